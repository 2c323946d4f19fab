import type { NextConfig } from "next";

// create-next-app's configuration, unchanged: nothing added for submit-guard.
const nextConfig: NextConfig = {};

export default nextConfig;

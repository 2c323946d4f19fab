import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The document's URL is the reference server's ($SUBMIT_GUARD_SERVER), as a
// page served by it: a relative `/api/orgs` reaches the real server.
const url = process.env.SUBMIT_GUARD_SERVER;

export default defineConfig({
  plugins: [react()],
  test: {
    environmentOptions: { jsdom: { url }, happyDOM: { url } },
  },
});

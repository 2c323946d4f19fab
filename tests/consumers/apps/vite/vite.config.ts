import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The template's configuration, unchanged: nothing added for submit-guard.
export default defineConfig({
  plugins: [react()],
});

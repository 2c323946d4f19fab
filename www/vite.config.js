// The demo is built against the package in ../pkg (`make pkg`), which is
// generated and git-ignored, so its two entries are aliased rather than
// installed. Nothing else is needed: the package is one ES module with the
// wasm embedded (no plugin, no top-level await).
//
// It is a *development* build (`NODE_ENV=development vite build`, see
// package.json): StrictMode's double effects, which field report 003 is
// about, only happen with React's development build.
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const pkg = (file) => fileURLToPath(new URL(`../pkg/${file}`, import.meta.url));

const www = fileURLToPath(new URL(".", import.meta.url));

/**
 * The demo has two pages: the React app, and the plain-HTML form using
 * attach(). Only when building www/ itself: the end-to-end tests build other
 * pages with this config.
 */
function demoPages() {
  return {
    name: "submit-guard-demo-pages",
    config(config) {
      if (resolve(config.root ?? process.cwd()) !== resolve(www)) return undefined;
      return {
        build: {
          rollupOptions: { input: { main: resolve(www, "index.html"), plain: resolve(www, "plain.html") } },
        },
      };
    },
  };
}

export default defineConfig({
  plugins: [react(), demoPages()],
  resolve: {
    alias: [
      { find: /^submit-guard\/react$/, replacement: pkg("react.js") },
      { find: /^submit-guard$/, replacement: pkg("submit_guard.js") },
    ],
    // pkg/react.js imports React from outside www/: use the demo's one copy.
    dedupe: ["react", "react-dom"],
  },
  build: {
    target: "esnext",
    chunkSizeWarningLimit: 2000,
  },
  // `npm run dev -w www` next to a server on 127.0.0.1:8080.
  server: { proxy: { "/api": "http://127.0.0.1:8080" } },
});

// Completes the package.json wasm-pack wrote: the `exports` map for the
// bundler build, the web build and the React hook, the files they need, and
// React as an optional peer dependency (plain-JS users never load it).
import { readFileSync, writeFileSync } from "node:fs";

const path = process.argv[2];
const pkg = JSON.parse(readFileSync(path, "utf8"));

pkg.exports = {
  ".": { types: "./submit_guard.d.ts", default: "./submit_guard.js" },
  "./web": { types: "./web/submit_guard.d.ts", default: "./web/submit_guard.js" },
  "./react": { types: "./react.d.ts", default: "./react.js" },
  "./package.json": "./package.json",
};
pkg.files = [...new Set([...(pkg.files ?? []), "web/", "react.js", "react.d.ts"])];
pkg.sideEffects = ["./submit_guard.js", "./snippets/*"];
pkg.keywords = ["idempotency", "idempotency-key", "double-submit", "forms", "fetch", "retry", "react", "wasm"];
pkg.peerDependencies = { react: ">=18" };
pkg.peerDependenciesMeta = { react: { optional: true } };

writeFileSync(path, JSON.stringify(pkg, null, 2) + "\n");

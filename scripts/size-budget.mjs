// The size budget (run by `make pkg`, so by `make test`): what a user's
// bundle pulls in from the package — the entry, the driver snippet and the
// embedded wasm — bundled and minified as a production build does (esbuild),
// then gzip -9. Fails over the budget; deterministic, like size-limit.
//
//   node scripts/size-budget.mjs pkg
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { decode } from "./embed.mjs";

// The target, 20 KB (README, "Size"): any growth past it fails the build.
export const BUDGET = 20 * 1024;

const pkg = process.argv[2] ?? "pkg";
const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;
const kb = (n) => (n / 1024).toFixed(2) + " KiB";

/** Every file of the package's main entry as shipped (entry and snippets). */
function shipped(dir) {
  const files = [join(dir, "submit_guard.js")];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(join(dir, "snippets"));
  return files;
}

const files = shipped(pkg);
const asShipped = files.reduce((sum, f) => sum + gz(readFileSync(f)), 0);
const bundled = await build({
  entryPoints: [join(pkg, "submit_guard.js")],
  bundle: true,
  minify: true,
  format: "esm",
  write: false,
  logLevel: "silent",
});
const minified = bundled.outputFiles[0].contents;
const total = gz(minified);
const wasmBytes = decode(readFileSync(join(pkg, "submit_guard.js"), "utf8"));

console.log(
  `size: ${kb(total)} (${total} bytes) gzip -9 bundled and minified (budget ${kb(BUDGET)}); ` +
    `${kb(asShipped)} as shipped; the wasm alone ${kb(wasmBytes.length)}, ${kb(gz(wasmBytes))} gzipped`,
);
if (total > BUDGET) {
  console.error(`size budget exceeded: ${kb(total)} > ${kb(BUDGET)}`);
  process.exit(1);
}

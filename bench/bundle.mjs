// P1: what a page downloads, gzip level 9: the release web build (the wasm,
// and the JS glue with any wasm-bindgen snippets as one script) against ky's
// published `distribution/` (every .js module as one script, unminified like
// our glue). Beside them, both as a bundler would ship them: bundled and
// minified by esbuild (the wasm unchanged). Sizes do not vary between runs,
// so each is measured once.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { summarize } from "./stats.mjs";
import { KY_DIST, ROOT } from "./procs.mjs";

const WEB = join(ROOT, "pkg/web");

/** Every file under `dir` whose name ends with one of `suffixes`. */
function filesUnder(dir, suffixes) {
  if (!statSync(dir, { throwIfNoEntry: false })?.isDirectory()) return [];
  return readdirSync(dir, { recursive: true })
    .map((name) => join(dir, name))
    .filter((path) => suffixes.some((s) => path.endsWith(s)) && statSync(path).isFile())
    .sort();
}

const gzip = (buffer) => gzipSync(buffer, { level: 9 }).length;
const concat = (paths) => Buffer.concat(paths.map((p) => readFileSync(p)));

/** `entry` and what it imports, as one minified ES module. */
async function minified(entry) {
  const result = await build({ entryPoints: [entry], bundle: true, minify: true, format: "esm", write: false, logLevel: "silent" });
  return Buffer.from(result.outputFiles[0].contents);
}

/** `{ guard, ky }`: gzip sizes in bytes (summarized), with their parts. */
export async function bundleSizes() {
  const wasm = join(WEB, "submit_guard_bg.wasm");
  const scripts = [join(WEB, "submit_guard.js"), ...filesUnder(join(WEB, "snippets"), [".js"])];
  const wasmBytes = readFileSync(wasm);
  const scriptBytes = concat(scripts);
  const kyScripts = filesUnder(KY_DIST, [".js"]);
  const kyBytes = concat(kyScripts);
  const kyVersion = JSON.parse(readFileSync(join(KY_DIST, "../package.json"), "utf8")).version;
  const glueMin = await minified(scripts[0]);
  const kyMin = await minified(join(KY_DIST, "index.js"));
  return {
    guard: {
      gzip: summarize([gzip(wasmBytes) + gzip(scriptBytes)]),
      raw: wasmBytes.length + scriptBytes.length,
      parts: {
        wasm: { files: [relative(ROOT, wasm)], raw: wasmBytes.length, gzip: gzip(wasmBytes) },
        js: { files: scripts.map((p) => relative(ROOT, p)), raw: scriptBytes.length, gzip: gzip(scriptBytes) },
      },
      minified: { gzip: gzip(wasmBytes) + gzip(glueMin), jsGzip: gzip(glueMin) },
    },
    ky: {
      version: kyVersion,
      gzip: summarize([gzip(kyBytes)]),
      raw: kyBytes.length,
      files: kyScripts.length,
      minified: { gzip: gzip(kyMin), raw: kyMin.length },
    },
  };
}

// Turns wasm-bindgen's `--target web` output (pkg/raw) into the npm package
// in pkg/: one ES module, submit_guard.js, with the wasm embedded as a string
// literal (scripts/embed.mjs) and instantiated synchronously on the first
// `new SubmitGuard()`.
//
//   node scripts/package.mjs pkg
//
// What changes in the generated module, and why:
// - the async `init()` and its `new URL("…_bg.wasm", import.meta.url)` go:
//   no asset for a bundler to resolve, no top-level await, no init call;
// - the constructor of `SubmitGuard` first instantiates the module
//   (`new WebAssembly.Instance(new WebAssembly.Module(bytes), imports)`),
//   once;
// - `free()` called while the guard is inside one of its own calls (a
//   listener freeing it during `fetch`) frees it when that call returns
//   instead of throwing; a second `free()` is a no-op;
// - the driver's `SubmitGuardError` and `isSubmitGuardError` are exported;
//   the internal `Flow` class is not, and loses what only a public class
//   needs (free, Symbol.dispose); the encodeInto fallback for engines that
//   cannot run the module anyway goes.
import { copyFileSync, cpSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { embed } from "./embed.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = process.argv[2] ?? join(root, "pkg");
const raw = join(out, "raw");

function replaceOnce(text, from, to, what) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(`package.mjs: expected exactly one ${what} in the generated module; wasm-bindgen's output changed`);
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

let js = readFileSync(join(raw, "submit_guard.js"), "utf8");
const wasm = readFileSync(join(raw, "submit_guard_bg.wasm"));
const [snippetDir] = readdirSync(join(raw, "snippets"));
const driver = `./snippets/${snippetDir}/js/driver.js`;

// The async loader: everything from its definition to the end of the module.
const loader = js.indexOf("async function __wbg_load(");
if (loader < 0) throw new Error("package.mjs: no __wbg_load in the generated module");
if (!js.slice(0, loader).includes("function __wbg_finalize_init(instance, module)")) {
  throw new Error("package.mjs: no __wbg_finalize_init before __wbg_load in the generated module");
}
js = js.slice(0, loader);

js = replaceOnce(js, "export class Flow {", "class Flow {", "Flow class");
// Flow is internal: freed only by its FinalizationRegistry (the driver drops
// it), so its free(), __destroy_into_raw() and Symbol.dispose go.
js = replaceOnce(
  js,
  `    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        FlowFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_flow_free(ptr, 0);
    }
`,
  "",
  "Flow free()",
);
js = replaceOnce(js, "if (Symbol.dispose) Flow.prototype[Symbol.dispose] = Flow.prototype.free;\n", "", "Flow Symbol.dispose");
// TextEncoder.encodeInto is in every engine that runs this module (its wasm
// uses reference types: Chrome 96, Firefox 79, Safari 15, Node 17), so
// wasm-bindgen's fallback for engines without it goes.
js = replaceOnce(
  js,
  `if (!('encodeInto' in cachedTextEncoder)) {
    cachedTextEncoder.encodeInto = function (arg, view) {
        const buf = cachedTextEncoder.encode(arg);
        view.set(buf);
        return {
            read: arg.length,
            written: buf.length
        };
    };
}
`,
  "",
  "encodeInto fallback",
);
// Every string is passed with a realloc (wasm-bindgen's own calls), so the
// path for a missing one goes.
js = replaceOnce(
  js,
  `    if (realloc === undefined) {
        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1) >>> 0;
        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
    }
`,
  "",
  "passStringToWasm0 without realloc",
);
js = replaceOnce(
  js,
  "export class SubmitGuard {",
  "export class SubmitGuard {",
  "SubmitGuard class",
);
const ctor = /(export class SubmitGuard \{[\s\S]*?\n    constructor\([^)]*\) \{\n)/;
if (!ctor.test(js)) throw new Error("package.mjs: no SubmitGuard constructor in the generated module");
js = js.replace(ctor, "$1        load();\n");

js += `
// The WebAssembly module, embedded (scripts/embed.mjs).
${embed(wasm)}

/** Instantiates the module on first use, synchronously (no init call). */
function load() {
    if (wasm !== undefined) return;
    const module = new WebAssembly.Module(wasmBytes());
    __wbg_finalize_init(new WebAssembly.Instance(module, __wbg_get_imports()), module);
}

// free() from inside one of the guard's own calls (a listener freeing it
// while fetch notifies) finds it borrowed: wasm-bindgen then lets go of the
// page's reference, drops the guard as soon as that call returns, and throws
// to say so. That is what was asked for: no error. Freeing twice is a no-op.
const free = SubmitGuard.prototype.free;
SubmitGuard.prototype.free = function () {
    if (!this.__wbg_ptr) return;
    try {
        free.call(this);
    } catch (error) {
        if (this.__wbg_ptr) throw error;
    }
};

// The class's JavaScript methods and getters: each hands the call to the
// driver through the one export \`__act\` (the driver's ACT table, numbered
// as src/binding.rs numbers it; 6, dispose, is the class's own). A freed
// guard (free(), Symbol.dispose, the React hook's unmount), or a method
// called on something that is not a guard, says so in a TypeError instead
// of wasm-bindgen's "null pointer passed to rust"; fetch and run reject
// with it.
["fetch", "run", "abort", "reset", "subscribe", "attach", , "key", "state", "pending", "attempts"].forEach((name, op) => {
    function call(a, b) {
        if (!this?.__wbg_ptr) {
            const error = new TypeError(\`submit-guard: \${name}: this SubmitGuard was freed (free(), Symbol.dispose or the React hook's unmount), or is not a SubmitGuard; make a new one\`);
            if (op < 2) return Promise.reject(error);
            throw error;
        }
        return this.__act(op, a, b);
    }
    Object.defineProperty(SubmitGuard.prototype, name, op > 6 ? { get: call, configurable: true } : { value: call, writable: true, configurable: true });
});
if (Symbol.dispose) SubmitGuard.prototype[Symbol.dispose] = SubmitGuard.prototype.free;

export { SubmitGuardError, isSubmitGuardError } from "${driver}";
`;

writeFileSync(join(out, "submit_guard.js"), js);
cpSync(join(raw, "snippets"), join(out, "snippets"), { recursive: true });

// Types: the generated declarations without the loader's.
let dts = readFileSync(join(raw, "submit_guard.d.ts"), "utf8");
const loaderTypes = dts.indexOf("export type InitInput");
if (loaderTypes >= 0) dts = dts.slice(0, loaderTypes);
// The classes' declarations use `Symbol.dispose`; the reference line lets a
// project whose `lib` predates it (es2022, say) type-check them anyway.
if (dts.includes("Symbol.dispose")) dts = '/// <reference lib="esnext.disposable" />\n' + dts;
writeFileSync(join(out, "submit_guard.d.ts"), dts);

for (const file of ["react.js", "react.d.ts"]) copyFileSync(join(root, "js", file), join(out, file));

const cargo = readFileSync(join(root, "Cargo.toml"), "utf8");
const field = (name) => cargo.match(new RegExp(`^${name} = "([^"]*)"`, "m"))?.[1];
const pkg = {
  name: "submit-guard",
  version: field("version"),
  description: field("description"),
  license: "MIT OR Apache-2.0",
  repository: { type: "git", url: "https://github.com/submit-guard/submit-guard" },
  keywords: ["idempotency", "idempotency-key", "double-submit", "forms", "fetch", "retry", "react", "wasm"],
  type: "module",
  main: "./submit_guard.js",
  module: "./submit_guard.js",
  types: "./submit_guard.d.ts",
  exports: {
    ".": { types: "./submit_guard.d.ts", default: "./submit_guard.js" },
    "./react": { types: "./react.d.ts", default: "./react.js" },
    "./package.json": "./package.json",
  },
  files: ["submit_guard.js", "submit_guard.d.ts", "snippets/", "react.js", "react.d.ts", "LICENSE-MIT", "LICENSE-APACHE"],
  // Importing the package does nothing until a guard is made.
  sideEffects: false,
  peerDependencies: { react: ">=18" },
  peerDependenciesMeta: { react: { optional: true } },
};
writeFileSync(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

// The package's README is the user's part of the repository README: its
// opening, then "Use it", "API" (options and errors), "Across tabs and
// reloads", "The rules" and "License", each as written there, so the two
// never disagree. Development, the server and the benchmarks stay in the
// repository. The licence texts go with it.
function packageReadme(readme) {
  const sections = readme.split(/^(?=## )/m);
  const wanted = ["Use it", "API", "Across tabs and reloads", "The rules", "License"];
  const picked = wanted.map((title) => {
    const section = sections.find((s) => s.startsWith(`## ${title}\n`));
    if (!section) throw new Error(`package.mjs: README.md has no "## ${title}" section`);
    return section.trimEnd();
  });
  const opening = sections[0].trimEnd();
  const repo = "https://github.com/submit-guard/submit-guard";
  const where = `The reference server, the demo, the benchmarks and how it is built: [the repository](${repo}).`;
  // Links to sections that stay in the repository point there.
  const text = [opening, ...picked, where].join("\n\n").replace(/\]\(#(?!use-it|api|options|errors|across-tabs-and-reloads|the-rules|license)/g, `](${repo}#`);
  return text.replace(/\[(LICENSE-[A-Z]+)\]\(\1\)/g, "[$1]($1)") + "\n";
}
writeFileSync(join(out, "README.md"), packageReadme(readFileSync(join(root, "README.md"), "utf8")));
for (const licence of ["LICENSE-MIT", "LICENSE-APACHE"]) copyFileSync(join(root, licence), join(out, licence));

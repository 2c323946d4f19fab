// P1: the size a user's bundle gains. The same minimal app — a form whose
// submit posts JSON and shows the answer — built with Vite (production build,
// its default minifier) once with plain `fetch` and once per client: the
// package (pkg/, copied in as node_modules/submit-guard, as `npm install`
// would place it), ky, TanStack Query's core (a `MutationObserver`), and a
// hand-written lock. Each figure is the gzip -9 of the build's output
// (every file under dist/assets, each compressed on its own, as a server
// sends them) minus the plain app's. Beside it, the package's own files as
// shipped, each gzipped. Sizes do not vary between runs: measured once.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "vite";
import { decode } from "../scripts/embed.mjs";
import { summarize } from "./stats.mjs";
import { BENCH, ROOT } from "./procs.mjs";

const PKG = join(ROOT, "pkg");
const gzip = (buffer) => gzipSync(buffer, { level: 9 }).length;

/** The app's submit function per variant; `none` is the app without a client. */
const VARIANTS = {
  none: {
    imports: "",
    submit: `async function submit(body) {
  const response = await fetch("/api/orgs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return response.json();
}`,
  },
  guard: {
    imports: `import { SubmitGuard } from "submit-guard";`,
    submit: `const guard = new SubmitGuard();
async function submit(body) {
  const response = await guard.fetch("/api/orgs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return response.json();
}`,
  },
  ky: {
    imports: `import ky from "ky";`,
    submit: `function submit(body) {
  return ky.post("/api/orgs", { json: body }).json();
}`,
  },
  tanstack: {
    imports: `import { MutationObserver, QueryClient } from "@tanstack/query-core";`,
    submit: `const mutation = new MutationObserver(new QueryClient(), {
  mutationFn: async (body) => {
    const response = await fetch("/api/orgs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
    return response.json();
  },
});
function submit(body) {
  return mutation.mutate(body);
}`,
  },
  hand: {
    imports: "",
    submit: `let inFlight = false;
let key = crypto.randomUUID();
async function submit(body) {
  if (inFlight) throw new Error("a submission is already in flight");
  inFlight = true;
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 30000);
  try {
    const headers = { "content-type": "application/json", "idempotency-key": key };
    const request = new Request("/api/orgs", { method: "POST", headers, body: JSON.stringify(body), signal: controller.signal });
    const response = await fetch(request);
    if (response.ok) key = crypto.randomUUID();
    return response.json();
  } finally {
    clearTimeout(timer);
    inFlight = false;
  }
}`,
  },
};

const HTML = `<!doctype html>
<meta charset="utf-8">
<title>app</title>
<form><input name="name"><button>Create</button></form>
<output></output>
<script type="module" src="/main.js"></script>
`;

const main = ({ imports, submit }) => `${imports}
${submit}
const form = document.querySelector("form");
const output = document.querySelector("output");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    output.textContent = JSON.stringify(await submit({ name: new FormData(form).get("name") }));
  } catch (error) {
    output.textContent = String(error);
  }
});
`;

/** The installed directory of npm package `name` (bench's own, else hoisted). */
function packageDir(name) {
  const dir = [join(BENCH, "node_modules", name), join(ROOT, "node_modules", name)].find((d) => existsSync(join(d, "package.json")));
  if (!dir) throw new Error(`P1: ${name} is not installed; run \`scripts/setup.sh npm\``);
  return dir;
}

/** Builds one variant in `dir`; returns `{ files, raw, gzip }` of dist/assets. */
async function viteApp(dir, variant) {
  mkdirSync(join(dir, "node_modules/@tanstack"), { recursive: true });
  cpSync(PKG, join(dir, "node_modules/submit-guard"), { recursive: true });
  symlinkSync(packageDir("ky"), join(dir, "node_modules/ky"));
  symlinkSync(packageDir("@tanstack/query-core"), join(dir, "node_modules/@tanstack/query-core"));
  writeFileSync(join(dir, "index.html"), HTML);
  writeFileSync(join(dir, "main.js"), main(VARIANTS[variant]));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `p1-${variant}`, private: true, type: "module" }));
  await build({ root: dir, configFile: false, logLevel: "silent", build: { outDir: join(dir, "dist"), emptyOutDir: true } });
  const assets = join(dir, "dist/assets");
  const files = readdirSync(assets).sort();
  if (!files.some((f) => f.endsWith(".js"))) throw new Error(`P1: the ${variant} app's build has no JavaScript`);
  const bytes = files.map((f) => readFileSync(join(assets, f)));
  return {
    files,
    raw: bytes.reduce((sum, b) => sum + b.length, 0),
    gzip: bytes.reduce((sum, b) => sum + gzip(b), 0),
  };
}

/** The package's main entry as shipped: the module and its snippets. */
function shippedFiles() {
  const snippets = join(PKG, "snippets");
  const under = readdirSync(snippets, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".js"))
    .map((e) => join(e.parentPath, e.name))
    .sort();
  return [join(PKG, "submit_guard.js"), ...under];
}

/**
 * `{ apps, added, shipped, versions }`: per variant the Vite build's sizes,
 * per client what it adds to the plain app (gzip bytes, summarized), the
 * package's files as shipped, and the peers' versions.
 */
export async function bundleSizes() {
  const root = mkdtempSync(join(tmpdir(), "submit-guard-bench-vite-"));
  try {
    const apps = {};
    for (const variant of Object.keys(VARIANTS)) {
      apps[variant] = await viteApp(join(root, variant), variant);
    }
    const added = Object.fromEntries(
      Object.keys(VARIANTS)
        .filter((v) => v !== "none")
        .map((v) => [v, summarize([apps[v].gzip - apps.none.gzip])]),
    );
    const files = shippedFiles();
    const module = readFileSync(files[0], "utf8");
    const wasm = decode(module);
    const version = (name) => JSON.parse(readFileSync(join(packageDir(name), "package.json"), "utf8")).version;
    return {
      apps,
      added,
      shipped: {
        files: files.map((f) => relative(ROOT, f)),
        raw: files.reduce((sum, f) => sum + readFileSync(f).length, 0),
        gzip: summarize([files.reduce((sum, f) => sum + gzip(readFileSync(f)), 0)]),
        wasm: { raw: wasm.length, gzip: gzip(wasm) },
      },
      versions: { vite: version("vite"), ky: version("ky"), tanstack: version("@tanstack/query-core") },
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

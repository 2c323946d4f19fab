// The consumer matrix (make test-consumers): the package as users install it.
//
//   node tests/consumers/run.mjs [TOOLCHAIN...]
//
// Packs the package (`npm pack` of $SUBMIT_GUARD_PKG, default pkg/), installs
// the tarball into this npm workspace (`npm install --no-save`, so apps import
// the real installed package, never pkg/ files), then runs each toolchain's
// app: builds it, loads it in headless Chromium against a reference server in
// test mode with no page errors, submits its form 10 times in one task, and
// asks the server whether exactly 1 POST with an Idempotency-Key arrived.
// Prints one row per toolchain and exits non-zero if any failed.
import { spawn, execFileSync } from "node:child_process";
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, Listening, startListening } from "../../scripts/lib/processes.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = resolve(HERE, "../..");
const WORK = join(HERE, ".work");
const PKG = resolve(process.env.SUBMIT_GUARD_PKG ?? join(ROOT, "pkg"));
const SERVER_BIN = process.env.SUBMIT_GUARD_SERVER_BIN ?? join(ROOT, "target/debug/submit-guard-server");
const BIN = join(HERE, "node_modules/.bin");
/** PATH for an app's commands: its own node_modules/.bin, then the workspace's. */
const pathFor = (cwd) => `${join(cwd, "node_modules/.bin")}:${BIN}:${process.env.PATH}`;
const app = (name) => join(HERE, "apps", name);

/** The matrix: each toolchain's steps; a thrown error fails that row only. */
const TOOLCHAINS = {
  node: async ({ server }) => {
    await server.reset();
    await run("node", ["check.mjs"], { cwd: app("node"), env: { SUBMIT_GUARD_SERVER: server.url } });
    await oneKeyedPost(server);
  },
  "vite-dev": async ({ server, browser }) => {
    rmSync(join(app("vite"), "node_modules/.vite"), { recursive: true, force: true });
    const port = await freePort();
    const dev = await startDevServer("vite", ["--host", "127.0.0.1", "--port", String(port), "--strictPort"], app("vite"), port);
    try {
      await burstInBrowser(browser, server, `${dev.url}/?api=${server.url}`);
    } finally {
      await dev.stop();
    }
  },
  "vite-build": async ({ browser }) => {
    await run("npm", ["run", "build"], { cwd: app("vite") });
    await servedBurst(browser, join(app("vite"), "dist"));
  },
  webpack: async ({ browser }) => {
    await run("webpack", [], { cwd: app("webpack") });
    await servedBurst(browser, withIndex(app("webpack")));
  },
  rollup: async ({ browser }) => {
    await run("rollup", ["-c"], { cwd: app("rollup") });
    await servedBurst(browser, withIndex(app("rollup")));
  },
  esbuild: async ({ browser }) => {
    await run("esbuild", ["src/main.js", "--bundle", "--format=esm", "--outdir=dist"], { cwd: app("esbuild") });
    await servedBurst(browser, withIndex(app("esbuild")));
  },
  "next-turbopack": ({ server, browser }) => nextApp(server, browser, []),
  "next-webpack": ({ server, browser }) => nextApp(server, browser, ["--webpack"]),
  "vitest-jsdom": ({ server }) => vitest(server, "jsdom"),
  "vitest-happy-dom": ({ server }) => vitest(server, "happy-dom"),
  "script-module": async ({ browser }) => {
    const dist = join(app("script-module"), "dist");
    rmSync(dist, { recursive: true, force: true });
    mkdirSync(dist, { recursive: true });
    const installed = join(HERE, "node_modules/submit-guard");
    cpSync(installed, join(dist, "submit-guard"), { recursive: true, dereference: true });
    cpSync(join(HERE, "shared/form.js"), join(dist, "form.js"));
    const entry = browserEntry(JSON.parse(readFileSync(join(installed, "package.json"), "utf8")));
    const html = readFileSync(join(app("script-module"), "index.html"), "utf8").replace("./submit-guard/ENTRY", `./submit-guard/${entry}`);
    writeFileSync(join(dist, "index.html"), html);
    await servedBurst(browser, dist);
  },
};

async function nextApp(server, browser, flags) {
  rmSync(join(app("next"), ".next"), { recursive: true, force: true });
  await run("next", ["build", ...flags], { cwd: app("next"), env: { NEXT_TELEMETRY_DISABLED: "1" } });
  const port = await freePort();
  const next = await startDevServer("next", ["start", "--hostname", "127.0.0.1", "--port", String(port)], app("next"), port);
  try {
    // Server rendering ran the hook: the HTML already holds the form, its
    // state and an empty key (useSubmitGuardState's key is null on the server).
    const html = await (await fetch(`${next.url}/`)).text();
    if (!html.includes('aria-label="Create organization"') || !/data-testid="state">idle</.test(html) || !/data-testid="key"><\//.test(html)) {
      throw new Error(`the server-rendered HTML lacks the form, its "idle" state or its empty key:\n${html.slice(0, 800)}`);
    }
    // Hydrated with no page error (a hydration mismatch is one), it shows the client guard's key, which the burst sends.
    await burstInBrowser(browser, server, `${next.url}/?api=${server.url}`, { showsKey: true });
  } finally {
    await next.stop();
  }
}

async function vitest(server, environment) {
  await server.reset();
  await run("vitest", ["run", "--environment", environment], {
    cwd: app("vitest"),
    env: { SUBMIT_GUARD_SERVER: server.url },
  });
  await oneKeyedPost(server);
}

// ---------------------------------------------------------------------------

/** The server serving `dir` statically, the burst against it, the server stopped. */
async function servedBurst(browser, dir) {
  const server = await startReferenceServer(["--static", dir]);
  try {
    await burstInBrowser(browser, server, `${server.url}/`);
  } finally {
    await server.stop();
  }
}

/**
 * Loads `url`, waits for the app, submits its form 10 times in one task, checks the server.
 * `showsKey`: the app shows its guard's key in `[data-testid="key"]`; it must be a UUID, and the one the POST carried.
 */
async function burstInBrowser(browser, server, url, { showsKey = false } = {}) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push(String(error)));
    page.on("console", (message) => {
      // The browser's own request for /favicon.ico, which no app here has, is not the app's error.
      if (message.type() === "error" && !message.location().url.endsWith("/favicon.ico")) errors.push(`console: ${message.text()}`);
    });
    await page.goto(url);
    await page.waitForFunction(() => window.consumerReady === true, null, { timeout: 30_000 }).catch((error) => {
      throw new Error(`the app did not start (${error.message.split("\n")[0]})${errors.length ? `; page errors:\n${errors.join("\n")}` : ""}`);
    });
    const shown = showsKey
      ? await page
          .waitForFunction(() => /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.exec(document.querySelector('[data-testid="key"]')?.textContent ?? "")?.[0], null, { timeout: 10_000 })
          .then((handle) => handle.jsonValue())
          .catch((error) => {
            throw new Error(`the page shows no key (${error.message.split("\n")[0]})${errors.length ? `; page errors:\n${errors.join("\n")}` : ""}`);
          })
      : null;
    await server.reset();
    await page.evaluate(() => {
      const form = document.querySelector("form");
      for (let i = 0; i < 10; i += 1) form.requestSubmit();
    });
    await page.waitForFunction(() => document.querySelector("#result")?.textContent, null, { timeout: 15_000 });
    const result = await page.textContent("#result");
    if (result !== "created 201") throw new Error(`the page shows ${JSON.stringify(result)}, not "created 201"`);
    const post = await oneKeyedPost(server);
    if (errors.length) throw new Error(`page errors:\n${errors.join("\n")}`);
    if (showsKey && post.key !== shown) throw new Error(`the POST carried the key ${post.key}, not the one shown, ${shown}`);
  } finally {
    await context.close();
  }
}

/** Exactly one POST to /api/orgs reached `server`, with a key, answered 201. */
async function oneKeyedPost(server) {
  const posts = (await server.json("/api/_requests")).filter((r) => r.method === "POST" && r.path.startsWith("/api/orgs"));
  if (posts.length !== 1) throw new Error(`the server got ${posts.length} POSTs to /api/orgs, not 1: ${JSON.stringify(posts)}`);
  if (!posts[0].key) throw new Error(`the POST carried no Idempotency-Key: ${JSON.stringify(posts[0])}`);
  if (posts[0].status !== 201) throw new Error(`the POST was answered ${posts[0].status}: ${JSON.stringify(posts[0])}`);
  return posts[0];
}

/** The entry a browser loads for `import "submit-guard"`, from the package's `exports`. */
function browserEntry(manifest) {
  let target = manifest.exports?.["."] ?? manifest.exports ?? manifest.module ?? manifest.main;
  while (target && typeof target === "object") {
    const key = ["browser", "import", "module", "default"].find((k) => k in target);
    if (!key) break;
    target = target[key];
  }
  if (typeof target !== "string") throw new Error(`no browser entry in the package's exports: ${JSON.stringify(manifest.exports)}`);
  return target.replace(/^\.\//, "");
}

/** Copies the shared index.html next to a bundler's dist/main.js; returns dist. */
function withIndex(dir) {
  const dist = join(dir, "dist");
  cpSync(join(HERE, "shared/index.html"), join(dist, "index.html"));
  return dist;
}

class Server extends Listening {
  async json(path) {
    const response = await fetch(this.url + path);
    if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
    return response.json();
  }

  async reset() {
    const response = await fetch(this.url + "/api/_reset", { method: "POST" });
    if (!response.ok) throw new Error(`reset: ${response.status}`);
  }
}

function startReferenceServer(flags = []) {
  return startListening(SERVER_BIN, ["--addr", "127.0.0.1:0", "--store", "memory", "--test-mode", ...flags], { Kind: Server });
}

/** Runs a command to completion; its output is kept for the error if it fails. */
function run(command, args, { cwd, env = {}, timeoutMs = 240_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, PATH: pathFor(cwd), ...env } });
    let output = "";
    const keep = (chunk) => {
      output = (output + chunk).slice(-30_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(output);
      else reject(new Error(`${[command, ...args].join(" ")} ${signal ? `killed (${signal}; over ${timeoutMs / 1000} s)` : `exited with ${code}`}:\n${output}`));
    });
  });
}

/** A dev or app server (vite, next start) listening on `port`; `stop()` ends it. */
async function startDevServer(tool, args, cwd, port) {
  const child = spawn(tool, args, { cwd, env: { ...process.env, PATH: pathFor(cwd), NEXT_TELEMETRY_DISABLED: "1" }, detached: true });
  let output = "";
  child.stdout.on("data", (chunk) => (output = (output + chunk).slice(-20_000)));
  child.stderr.on("data", (chunk) => (output = (output + chunk).slice(-20_000)));
  process.on("exit", () => kill(child));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${tool} ${args.join(" ")} exited with ${child.exitCode}:\n${output}`);
    const up = await fetch(url).then(
      () => true,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) {
      kill(child);
      throw new Error(`${tool} did not answer on ${url} within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      kill(child);
      await exited;
    },
  };
}

/** Ends a detached child and what it started (its process group). */
function kill(child) {
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    // already gone
  }
}

function freePort() {
  return new Promise((resolvePromise, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolvePromise(port));
    });
  });
}

/** `npm pack` of the package, installed into the workspace as users install it. */
function installTarball() {
  if (!existsSync(join(PKG, "package.json"))) throw new Error(`no package at ${PKG}: run make pkg first`);
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const [{ filename }] = JSON.parse(execFileSync("npm", ["pack", PKG, "--json", "--pack-destination", WORK], { encoding: "utf8" }));
  const tarball = join(WORK, filename);
  execFileSync("npm", ["install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error", tarball], { cwd: HERE, stdio: "inherit" });
  const installed = join(HERE, "node_modules/submit-guard");
  if (lstatSync(installed).isSymbolicLink()) throw new Error(`${installed} is a link, not the installed tarball`);
  return tarball;
}

function firstLines(text, n = 12) {
  const lines = text.replace(/\x1b\[[0-9;]*m/g, "").split("\n").filter((l) => l.trim());
  return lines.length > n ? [...lines.slice(0, n), `… (${lines.length - n} more lines)`].join("\n") : lines.join("\n");
}

async function main() {
  const wanted = process.argv.slice(2);
  for (const name of wanted) {
    if (!(name in TOOLCHAINS)) throw new Error(`unknown toolchain ${name}; known: ${Object.keys(TOOLCHAINS).join(", ")}`);
  }
  const names = wanted.length ? wanted : Object.keys(TOOLCHAINS);
  const started = Date.now();
  const tarball = installTarball();
  console.log(`installed ${tarball} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  const server = await startReferenceServer();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const rows = [];
  try {
    for (const name of names) {
      const t0 = Date.now();
      let error = null;
      try {
        await TOOLCHAINS[name]({ server, browser });
      } catch (e) {
        error = e;
      }
      const seconds = ((Date.now() - t0) / 1000).toFixed(1);
      rows.push({ name, ok: !error, seconds, error });
      console.log(`${error ? "FAIL" : "ok  "} ${name} (${seconds} s)${error ? `\n${firstLines(String(error.message ?? error)).replace(/^/gm, "     ")}` : ""}`);
    }
  } finally {
    await browser.close();
    await server.stop();
  }
  console.log(`\n| toolchain | result | seconds |\n|---|---|---:|`);
  for (const r of rows) console.log(`| ${r.name} | ${r.ok ? "ok" : "**fails**"} | ${r.seconds} |`);
  const failed = rows.filter((r) => !r.ok).length;
  console.log(`\n${rows.length - failed} of ${rows.length} toolchains pass (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  writeFileSync(join(WORK, "results.json"), JSON.stringify(rows.map(({ error, ...r }) => ({ ...r, error: error ? String(error.message ?? error) : null })), null, 2));
  // Everything started here has been stopped; exit without waiting for idle sockets.
  process.exit(failed ? 1 : 0);
}

await main();

// What the benchmark groups share: paths, the reference server and the Node
// peer as child processes on 127.0.0.1, headless Chromium (the system one,
// through playwright-core), a temporary static directory, progress lines.
//
// Every child started here is killed when the runner exits, whatever the
// outcome, so no run leaves a process behind.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const BENCH = fileURLToPath(new URL(".", import.meta.url));
export const ROOT = join(BENCH, "..");
export const SERVER_BIN =
  process.env.SUBMIT_GUARD_SERVER_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "release/submit-guard-server");
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
/** ky's `distribution/` directory, wherever the workspace installed it. */
export const KY_DIST = dirname(fileURLToPath(import.meta.resolve("ky")));

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

/** A progress line on stderr (stdout carries only the table). */
export function say(message) {
  const load = loadavg().map((x) => x.toFixed(2)).join(" ");
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)} load ${load}] ${message}\n`);
}

/** A child process that printed `listening on URL`; `stop()` ends it. */
export class Listening {
  constructor(child, url) {
    this.child = child;
    this.url = url;
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    children.delete(this.child);
  }
}

/** Starts `command args` and waits for its `listening on URL` line. Its
 *  stderr (the server's per-request log) goes to /dev/null. */
export async function startListening(command, args, env = {}) {
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, ...env } });
  children.add(child);
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${command} did not start within 15 s`)), 15_000);
    child.stdout.on("data", (chunk) => {
      out += chunk;
      const match = out.match(/^listening on (\S+)$/m);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} ${args.join(" ")} exited with ${code}`));
    });
  });
  return new Listening(child, url);
}

/** The release reference server on a free loopback port with `flags`. */
export function startServer(flags = []) {
  return startListening(SERVER_BIN, ["--addr", "127.0.0.1:0", ...flags]);
}

/** The Node peer (express + @node-idempotency/core) on a free loopback port. */
export function startNodePeer() {
  return startListening(process.execPath, [join(BENCH, "node-peer.mjs")], { NODE_ENV: "production" });
}

/** A directory to serve statically: `files` maps names to paths to link. */
export function staticDir(files) {
  const dir = mkdtempSync(join(tmpdir(), "submit-guard-bench-"));
  for (const [name, target] of Object.entries(files)) symlinkSync(target, join(dir, name));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The bench page directory: the pages, the package and ky's distribution. */
export function benchPages() {
  return staticDir({
    "index.html": join(BENCH, "page/index.html"),
    "startup.html": join(BENCH, "page/startup.html"),
    "bench.js": join(BENCH, "page/bench.js"),
    pkg: join(ROOT, "pkg"),
    ky: KY_DIST,
  });
}

/** Headless system Chromium, with `gc()` exposed so runs start collected. */
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--js-flags=--expose-gc",
    ],
  });
}

/**
 * Opens `url` in a new page of `context` as a cross-origin isolated document
 * (COOP + COEP added to the document's response alone), so that
 * `performance.now()` has 5 µs resolution instead of 100 µs. The route is
 * removed once the page has loaded: no later request is intercepted.
 */
export async function openIsolated(context, url) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error));
  await page.route(url, async (route) => {
    const response = await route.fetch();
    await route.fulfill({
      response,
      headers: {
        ...response.headers(),
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-embedder-policy": "require-corp",
      },
    });
  });
  await page.goto(url);
  await page.unrouteAll();
  if (!(await page.evaluate(() => self.crossOriginIsolated))) throw new Error("the bench page is not cross-origin isolated");
  return page;
}

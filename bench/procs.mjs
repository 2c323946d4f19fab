// What the benchmark groups share: paths, the reference server and the Node
// peer as child processes on 127.0.0.1, headless Chromium (the system one,
// through playwright-core), a temporary static directory, progress lines.
//
// Every child started here is killed when the runner exits, whatever the
// outcome, so no run leaves a process behind (scripts/lib/processes.mjs).
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, startListening, staticDir } from "../scripts/lib/processes.mjs";

export const BENCH = fileURLToPath(new URL(".", import.meta.url));
export const ROOT = join(BENCH, "..");
export const SERVER_BIN =
  process.env.SUBMIT_GUARD_SERVER_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, "target"), "release/submit-guard-server");
/** ky's `distribution/` directory, wherever the workspace installed it. */
export const KY_DIST = dirname(fileURLToPath(import.meta.resolve("ky")));

/** A progress line on stderr (stdout carries only the table). */
export function say(message) {
  const load = loadavg().map((x) => x.toFixed(2)).join(" ");
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)} load ${load}] ${message}\n`);
}

/** The release reference server on a free loopback port with `flags`. */
export function startServer(flags = []) {
  // Its per-request log would cost the load generator's CPU: dropped.
  return startListening(SERVER_BIN, ["--addr", "127.0.0.1:0", ...flags], { quiet: true });
}

/** The Node peer (express + @node-idempotency/core) on a free loopback port. */
export function startNodePeer() {
  return startListening(process.execPath, [join(BENCH, "node-peer.mjs")], { env: { NODE_ENV: "production" }, quiet: true });
}

/** The bench page directory: the pages, the package and ky's distribution. */
export function benchPages() {
  const files = {
    "index.html": join(BENCH, "page/index.html"),
    "startup.html": join(BENCH, "page/startup.html"),
    "bench.js": join(BENCH, "page/bench.js"),
    pkg: join(ROOT, "pkg"),
    ky: KY_DIST,
  };
  return staticDir(files, "submit-guard-bench-");
}

/** Headless system Chromium, with `gc()` exposed so runs start collected. */
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...CHROMIUM_ARGS, "--js-flags=--expose-gc"],
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

/** The bench page (index.html) of the server at `serverUrl`, opened as by
 *  `openIsolated`, once its `window.bench` is ready. */
export async function openBench(context, serverUrl) {
  const page = await openIsolated(context, `${serverUrl}/`);
  await page.waitForFunction(() => window.bench);
  return page;
}

// P2 (client overhead per submit), P3 (dedupe storm) and P5 (start-up) in
// headless Chromium: the bench page is served over http by the release
// reference server (`--static`), with the web build and ky beside it.
import { mapValues, summarize } from "./stats.mjs";
import { benchPages, launch, openBench, openIsolated, say, startServer } from "./procs.mjs";

const per = (perRun, pick) => Object.fromEntries(Object.entries(perRun).map(([name, runs]) => [name, runs.map(pick)]));

/**
 * Runs P2, P3 and P5 and returns their raw per-run numbers, summarized:
 * `{ overhead, storm: { ms, sent, fulfilled }, startup, chromium }`.
 */
export async function clientBenchmarks(config) {
  const server = await startServer(["--store", "memory", "--static", benchPages()]);
  const browser = await launch();
  try {
    const chromium = browser.version();
    const context = await browser.newContext();
    const page = await openBench(context, server.url);

    say(`P2 client overhead: ${config.p2.runs} runs × ${config.p2.calls} sequential calls per client, after ${config.p2.warmup} warm-up calls`);
    const overhead = await page.evaluate((c) => window.bench.clientOverhead(c), config.p2);

    say(`P3 dedupe storm: ${config.p3.runs} runs × ${config.p3.calls} same-tick calls per client`);
    const storm = await page.evaluate((c) => window.bench.dedupeStorm(c), config.p3);
    const handRolledSource = await page.evaluate(() => window.bench.handRolledSource);
    if (page.errors.length) throw page.errors[0];
    await context.close();

    say(`P5 start-up: ${config.p5.runs} runs, each in a fresh browser context`);
    const startup = await startupRuns(browser, server.url, config.p5.runs);

    return {
      chromium,
      handRolledSource,
      overhead: mapValues(overhead, summarize),
      storm: {
        ms: mapValues(per(storm, (r) => r.ms), summarize),
        sent: mapValues(per(storm, (r) => r.sent), summarize),
        fulfilled: mapValues(per(storm, (r) => r.fulfilled), summarize),
      },
      startup: mapValues(startup, summarize),
    };
  } finally {
    await browser.close();
    await server.stop();
  }
}

/**
 * P5, per run, each step in a fresh context (no HTTP, code or module cache
 * shared with an earlier run):
 * - `compileInstantiate`: `WebAssembly.compile` of the fetched bytes, then
 *   `init({ module_or_path: module })` (instantiate + wasm-bindgen start-up);
 *   `compile` and `instantiate` are its two parts.
 * - `init`: a page's whole `await init()` (fetch over loopback + streaming
 *   compile + instantiate), the JS glue imported beforehand.
 * - `kyImport`: the peer's start-up, `await import("./ky/index.js")`
 *   (fetch + parse + evaluate of its modules).
 */
async function startupRuns(browser, url, runs) {
  const out = { compileInstantiate: [], compile: [], instantiate: [], init: [], kyImport: [] };
  const fresh = async (fn) => {
    const context = await browser.newContext();
    const page = await openIsolated(context, `${url}/startup.html`);
    try {
      return await page.evaluate(fn);
    } finally {
      await context.close();
    }
  };
  for (let run = 0; run < runs; run++) {
    const split = await fresh(async () => {
      const glue = await import("/pkg/web/submit_guard.js");
      const bytes = await (await fetch("/pkg/web/submit_guard_bg.wasm")).arrayBuffer();
      const t0 = performance.now();
      const module = await WebAssembly.compile(bytes);
      const t1 = performance.now();
      await glue.default({ module_or_path: module });
      const t2 = performance.now();
      new glue.SubmitGuard().free();
      return { compile: t1 - t0, instantiate: t2 - t1 };
    });
    out.compile.push(split.compile);
    out.instantiate.push(split.instantiate);
    out.compileInstantiate.push(split.compile + split.instantiate);
    out.init.push(
      await fresh(async () => {
        const glue = await import("/pkg/web/submit_guard.js");
        const t0 = performance.now();
        await glue.default();
        return performance.now() - t0;
      }),
    );
    out.kyImport.push(
      await fresh(async () => {
        const t0 = performance.now();
        const ky = await import("/ky/index.js");
        const ms = performance.now() - t0;
        if (typeof ky.default.post !== "function") throw new Error("ky did not load");
        return ms;
      }),
    );
  }
  return out;
}

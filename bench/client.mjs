// P2 (client overhead per submit), P3 (dedupe storm) and P5 (start-up) in
// headless Chromium: the bench page is served over http by the release
// reference server (`--static`), with the package (pkg/) and ky beside it.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { block } from "../scripts/embed.mjs";
import { mapValues, summarize } from "./stats.mjs";
import { ROOT, benchPages, launch, openBench, openIsolated, say, startServer } from "./procs.mjs";

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
 * P5, per run, each in a fresh context (no HTTP, code or module cache shared
 * with an earlier run), start-up as a page meets it:
 * - `importToGuard`: from `import("/pkg/submit_guard.js")` to the first
 *   `new SubmitGuard()` returning: fetch + parse + evaluate of the module
 *   and its driver, then the synchronous compile + instantiate of the
 *   embedded wasm that the first constructor does;
 * - `import` and `firstGuard`, its two parts; `secondGuard`, a constructor
 *   once the module is instantiated (what every later guard costs);
 * - `decode` and `compile`, in another fresh context: the embedded wasm
 *   decoded as the package does (scripts/embed.mjs), then
 *   `new WebAssembly.Module(bytes)` alone (the synchronous compile inside
 *   `firstGuard`);
 * - `kyImport`: the peer's start-up, `await import("/ky/index.js")` (fetch +
 *   parse + evaluate of its modules).
 */
async function startupRuns(browser, url, runs) {
  const out = { importToGuard: [], import: [], firstGuard: [], secondGuard: [], decode: [], compile: [], kyImport: [] };
  const fresh = async (fn, arg) => {
    const context = await browser.newContext();
    const page = await openIsolated(context, `${url}/startup.html`);
    try {
      return await page.evaluate(fn, arg);
    } finally {
      await context.close();
    }
  };
  for (let run = 0; run < runs; run++) {
    const guard = await fresh(async () => {
      const t0 = performance.now();
      const { SubmitGuard } = await import("/pkg/submit_guard.js");
      const t1 = performance.now();
      const first = new SubmitGuard();
      const t2 = performance.now();
      const second = new SubmitGuard();
      const t3 = performance.now();
      if (typeof first.fetch !== "function" || first.key === second.key) throw new Error("the guards are not usable");
      first.free();
      second.free();
      return { import: t1 - t0, firstGuard: t2 - t1, secondGuard: t3 - t2 };
    });
    out.importToGuard.push(guard.import + guard.firstGuard);
    out.import.push(guard.import);
    out.firstGuard.push(guard.firstGuard);
    out.secondGuard.push(guard.secondGuard);
    const wasm = await fresh(async (embedded) => {
      // The module's literal and decoder (scripts/embed.mjs), evaluated here.
      const wasmBytes = new Function(`${embedded}\nreturn wasmBytes;`)();
      const t0 = performance.now();
      const bytes = wasmBytes();
      const t1 = performance.now();
      const module = new WebAssembly.Module(bytes);
      const t2 = performance.now();
      if (!WebAssembly.Module.exports(module).length) throw new Error("the wasm exports nothing");
      return { decode: t1 - t0, compile: t2 - t1 };
    }, block(readFileSync(join(ROOT, "pkg/submit_guard.js"), "utf8")));
    out.decode.push(wasm.decode);
    out.compile.push(wasm.compile);
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

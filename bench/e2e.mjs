// P4: sequential POSTs from headless Chromium to the release reference server
// (memory store, same origin as the page): guard.fetch against raw fetch,
// interleaved in blocks. The page is cross-origin isolated so that
// performance.now() resolves 5 µs, not 100 µs.
import { mapValues, median, quantile, summarize } from "./stats.mjs";
import { benchPages, launch, openBench, say, startServer } from "./procs.mjs";

/**
 * Per run: `perMode` POSTs per mode; per mode the run's median and p99 (ms)
 * and the guard's ratios to raw fetch. Returns them summarized over runs.
 */
export async function endToEndBenchmarks(config) {
  const { runs, perMode, block, warmup } = config.p4;
  const pages = benchPages();
  const browser = await launch();
  say(`P4 end to end: ${runs} runs × ${perMode} sequential POSTs per mode, blocks of ${block}, after ${warmup} warm-up each; a fresh server per run`);
  try {
    const perRun = { median: {}, p99: {} };
    const ratios = { median: [], p99: [] };
    for (let run = 0; run < runs; run++) {
      // A fresh server (empty store) per run, so every run sees the same
      // server state; a store that grows makes later requests slower.
      const server = await startServer(["--store", "memory", "--static", pages]);
      const context = await browser.newContext();
      try {
        const page = await openBench(context, server.url);
        const latencies = await page.evaluate((c) => window.bench.endToEnd(c), { perMode, block, warmup });
        if (page.errors.length) throw page.errors[0];
        for (const [mode, xs] of Object.entries(latencies)) {
          (perRun.median[mode] ??= []).push(median(xs));
          (perRun.p99[mode] ??= []).push(quantile(xs, 0.99));
        }
        ratios.median.push(median(latencies.guard) / median(latencies.raw));
        ratios.p99.push(quantile(latencies.guard, 0.99) / quantile(latencies.raw, 0.99));
      } finally {
        await context.close();
        await server.stop();
      }
    }
    return {
      median: mapValues(perRun.median, summarize),
      p99: mapValues(perRun.p99, summarize),
      ratio: { median: summarize(ratios.median), p99: summarize(ratios.p99) },
    };
  } finally {
    await browser.close();
  }
}

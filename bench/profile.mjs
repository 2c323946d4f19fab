// A CPU profile of one client in P2 (client overhead) or P3 (dedupe storm),
// in headless Chromium, to see where a submission's time goes:
//
//   node bench/profile.mjs [guard|ky|hand] [p2|p3]
//
// Prints the run's figures, then the functions with the most self time and
// the most inclusive time (each function counted once per sampled stack).
// The package's release wasm has no names; for Rust function names, build
// pkg/ with the name section kept (wasm-opt -g in scripts/build-pkg.sh) first.
import { benchPages, launch, openBench, startServer } from "./procs.mjs";

const [client = "guard", group = "p2"] = process.argv.slice(2);
const ROWS = 40;

const server = await startServer(["--store", "memory", "--static", benchPages()]);
const browser = await launch();
try {
  const page = await openBench(await browser.newContext(), server.url);
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 50 });
  await cdp.send("Profiler.start");
  const figures = await page.evaluate(
    ([only, group]) =>
      group === "p3"
        ? window.bench.dedupeStorm({ calls: 10_000, runs: 3, only })
        : window.bench.clientOverhead({ calls: 10_000, runs: 3, warmup: 500, only }),
    [client, group],
  );
  const { profile } = await cdp.send("Profiler.stop");
  console.log(JSON.stringify(figures));
  report(profile);
} finally {
  await browser.close();
  await server.stop();
}

/** Prints self and inclusive time per function, as % of the sampled time. */
function report({ nodes, samples, timeDeltas }) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of nodes) for (const child of n.children ?? []) parent.set(child, n.id);
  const label = (id) => {
    const { functionName, url, lineNumber } = byId.get(id).callFrame;
    return `${functionName || "(anonymous)"} ${url.split("/").pop()}:${lineNumber}`;
  };
  const self = new Map();
  const inclusive = new Map();
  const add = (map, key, dt) => map.set(key, (map.get(key) ?? 0) + dt);
  let total = 0;
  samples.forEach((id, i) => {
    const dt = timeDeltas[i];
    total += dt;
    add(self, label(id), dt);
    const stack = new Set();
    for (let n = id; n !== undefined; n = parent.get(n)) stack.add(label(n));
    for (const name of stack) add(inclusive, name, dt);
  });
  for (const [title, map] of [["self", self], ["inclusive", inclusive]]) {
    console.log(`\n${title} time, % of ${(total / 1000).toFixed(0)} ms sampled`);
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, ROWS)
      .forEach(([name, dt]) => console.log(`${((dt / total) * 100).toFixed(1).padStart(5)}  ${name.slice(0, 150)}`));
  }
}

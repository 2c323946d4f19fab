// The report: figures (each a subject beside its peers, with its target and
// whether it is met) from the groups' numbers, the Markdown table, the plot.
import { writeFileSync } from "node:fs";
import * as vega from "vega";
import * as vegaLite from "vega-lite";

/** A table row: a name and a summary (`runs, median, min, max, samples`). */
const row = (name, summary, scale = 1) => ({
  name,
  runs: summary.runs,
  median: summary.median * scale,
  min: summary.min * scale,
  max: summary.max * scale,
  samples: summary.samples.map((x) => x * scale),
});

const times = (a, b) => `${(a / b).toFixed(2)}×`;

/** The figures, P1 to P6, from what the groups measured. */
export function figures({ bundle, client, e2e, server }, config) {
  const out = [];
  {
    const kb = 1 / 1000;
    const one = (x) => ({ runs: 1, median: x, min: x, max: x, samples: [x] });
    const { added, apps, shipped, versions } = bundle;
    const subject = row("submit-guard: the Vite app with the package minus without", added.guard, kb);
    const ky = row(`ky ${versions.ky}, the same way`, added.ky, kb);
    out.push({
      id: "P1",
      title: `bundle a user ships: what a minimal Vite ${versions.vite} app gains, gzip -9 of its JS`,
      unit: "KB",
      runsNote: "measured once: sizes do not vary",
      subject,
      peers: [
        ky,
        row(`TanStack Query core ${versions.tanstack} (a MutationObserver), the same way`, added.tanstack, kb),
        row("a hand-written lock (in-flight flag, key, Request, timeout), the same way", added.hand, kb),
      ],
      details: [
        row("  the app without any of them (plain fetch)", one(apps.none.gzip), kb),
        row("  the package's files as shipped, each gzipped (entry + driver snippets)", shipped.gzip, kb),
        row("  the embedded wasm alone, gzipped raw bytes", one(shipped.wasm.gzip), kb),
      ],
      target: "≤ 20 KB (aim 12 KB)",
      met: subject.median <= 20,
      verdict: `${times(subject.median, 20)} the target, ${times(subject.median, ky.median)} ky`,
    });
  }
  {
    const { overhead } = client;
    const subject = row("guard.fetch", overhead.guard);
    const ky = row("ky.post", overhead.ky);
    const hand = row("hand-written lock + key + Request + AbortController/timeout + fetch", overhead.hand);
    out.push({
      id: "P2",
      title: "client overhead per submit",
      unit: "µs/call",
      runsNote: `${config.p2.runs} runs × ${config.p2.calls.toLocaleString("en")} sequential calls, instant fetch stub`,
      subject,
      peers: [hand, ky],
      target: "≤ 1.5× hand-written",
      met: subject.median <= 1.5 * hand.median,
      verdict: `${times(subject.median, hand.median)} hand-written, ${times(subject.median, ky.median)} ky`,
    });
  }
  {
    const { sent, ms } = client.storm;
    const subject = row("guard.fetch", sent.guard);
    out.push({
      id: "P3",
      title: "dedupe storm: requests sent",
      unit: "requests",
      runsNote: `${config.p3.runs} runs × ${config.p3.calls.toLocaleString("en")} same-tick calls`,
      subject,
      peers: [row("ky.post", sent.ky), row(`hand-written (rejects the other ${(config.p3.calls - 1).toLocaleString("en")})`, sent.hand)],
      target: "1",
      met: subject.max === 1 && subject.min === 1,
      verdict: `${subject.max} request; all ${client.storm.fulfilled.guard.min.toLocaleString("en")} callers got the response`,
    });
    const settle = row("guard.fetch", ms.guard);
    out.push({
      id: "P3",
      title: "dedupe storm: ms until all settled",
      unit: "ms",
      runsNote: `${config.p3.runs} runs × ${config.p3.calls.toLocaleString("en")} same-tick calls`,
      subject: settle,
      peers: [row("ky.post", ms.ky), row("hand-written", ms.hand)],
      target: "≤ 5 ms",
      met: settle.median <= 5,
      verdict: `${times(settle.median, 5)} the target`,
    });
  }
  {
    const note = `${config.p4.runs} runs × ${config.p4.perMode.toLocaleString("en")} sequential POSTs per mode, interleaved`;
    for (const [stat, label] of [["median", "median latency"], ["p99", "p99 latency"]]) {
      const subject = row("guard.fetch", e2e[stat].guard);
      const ratio = e2e.ratio[stat];
      out.push({
        id: "P4",
        title: `end to end: ${label}`,
        unit: "ms",
        runsNote: note,
        subject,
        peers: [row("raw fetch (no key)", e2e[stat].raw), row("fetch + Idempotency-Key (no guard)", e2e[stat].keyed)],
        target: stat === "median" ? "≤ 1.03× raw fetch" : "(reported)",
        met: stat === "median" ? ratio.median <= 1.03 : null,
        ratio: { name: "guard / raw fetch", runs: ratio.runs, median: ratio.median, min: ratio.min, max: ratio.max },
        verdict: `${ratio.median.toFixed(2)}× raw [${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)}]`,
      });
    }
  }
  {
    const { startup } = client;
    const subject = row("import() to the first new SubmitGuard() returning", startup.importToGuard);
    out.push({
      id: "P5",
      title: "start-up in Chromium",
      unit: "ms",
      runsNote: `${config.p5.runs} runs, a fresh browser context each`,
      subject,
      peers: [row("ky: import() (fetch + parse + evaluate)", startup.kyImport)],
      details: [
        row("  import() (fetch + parse + evaluate of the module and driver)", startup.import),
        row("  first new SubmitGuard() (sync compile + instantiate of the wasm)", startup.firstGuard),
        row("    of which, timed apart: decoding the embedded literal", startup.decode),
        row("    of which, timed apart: new WebAssembly.Module (compile)", startup.compile),
        row("  a later new SubmitGuard()", startup.secondGuard),
      ],
      target: "≤ 5 ms",
      met: subject.median <= 5,
      verdict: `${times(subject.median, 5)} the target, ${times(subject.median, row("", startup.kyImport).median)} ky's import`,
    });
  }
  {
    const node = row("Node: express + @node-idempotency (memory)", server.node.rps);
    const ratio = (x) => `${x.toFixed(2)}×`;
    const stores = [
      // [variant, label, layer off, target, met(vsOff, vsNode)]
      ["memory", "memory store", "noLayer", "≥ 0.8× layer off", (off) => off >= 0.8],
      ["sqlite", "SQLite store", "noLayerSqlite", "≥ 0.8× layer off, ≥ 1× Node", (off, n) => off >= 0.8 && n >= 1],
      ["postgres", "PostgreSQL store", "noLayerPostgres", "(reported) beside layer off", () => null],
    ];
    for (const [store, label, layerOff, target, judge] of stores) {
      const note = `${config.p6.runs} runs × ${config.p6.seconds} s, wrk -t${config.p6.threads} -c${config.p6.connections}, unique keys`;
      if (!server[store]) {
        out.push({ id: "P6", title: `server throughput, ${label}`, unit: "requests/s", runsNote: note, skipped: "not run: no DATABASE_URL (make bench runs it under scripts/with-postgres.sh)" });
        continue;
      }
      const off = row(`same handler, ${label}, idempotency layer off`, server[layerOff].rps);
      const subject = row(`keyed, ${label}`, server[store].rps);
      const vsOff = subject.median / off.median;
      const vsNode = subject.median / node.median;
      out.push({
        id: "P6",
        title: `server throughput, ${label}`,
        unit: "requests/s",
        higherIsBetter: true,
        runsNote: note,
        subject,
        peers: [off, node],
        target,
        met: judge(vsOff, vsNode),
        verdict: `${ratio(vsOff)} layer off, ${ratio(vsNode)} Node`,
        latency: Object.fromEntries(
          [store, layerOff, "node"].map((v) => [v, { p50ms: server[v].p50, p99ms: server[v].p99 }]),
        ),
        errors: Object.fromEntries(Object.entries(server).map(([v, r]) => [v, r.errors])),
      });
    }
  }
  return out;
}

/** A number with as many decimals as its size deserves. */
export function fmt(x, unit) {
  if (unit === "requests/s" || unit === "requests") return Math.round(x).toLocaleString("en");
  const abs = Math.abs(x);
  return x.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : 2);
}

/** The Markdown table: one row per variant, the subject first and bold. */
export function markdown(figs) {
  const lines = [
    "| | measure | variant | median | min – max | target | met |",
    "|---|---|---|---:|---:|---|---|",
  ];
  for (const f of figs) {
    const measure = `${f.title} (${f.unit}; ${f.runsNote})`;
    if (f.skipped) {
      lines.push(`| ${f.id} | ${measure} | ${f.skipped} | | | | |`);
      continue;
    }
    const met = f.met === null ? "—" : f.met ? "**yes**" : "**no**";
    const range = (r) => (r.runs > 1 ? `${fmt(r.min, f.unit)} – ${fmt(r.max, f.unit)}` : "");
    lines.push(
      `| ${f.id} | ${measure} | **${f.subject.name}** | **${fmt(f.subject.median, f.unit)}** | ${range(f.subject)} | ${f.target} | ${met}: ${f.verdict} |`,
    );
    for (const r of [...(f.details ?? []), ...f.peers]) {
      lines.push(`| | | ${r.name.replace(/^ {4}/, "↳↳ ").replace(/^ {2}/, "↳ ")} | ${fmt(r.median, f.unit)} | ${range(r)} | | |`);
    }
  }
  return lines.join("\n");
}

/** One SVG with P2 and P6 side by side: median bars, min–max whiskers. */
export async function plot(figs, path) {
  const p2 = figs.find((f) => f.id === "P2");
  const p6 = figs.filter((f) => f.id === "P6" && !f.skipped);
  const points = (f, rows) =>
    rows.map((r) => ({
      variant: r.name,
      median: r.median,
      min: r.min,
      max: r.max,
      label: fmt(r.median, f.unit),
      ours: r === f.subject || p6.some((g) => g.subject === r),
    }));
  const p6rows = [...p6.flatMap((f) => [f.subject, f.peers[0]]), p6[0].peers[1]];
  const panel = (title, axis, values) => ({
    title,
    data: { values },
    width: 360,
    height: 28 * values.length,
    encoding: { y: { field: "variant", type: "nominal", sort: null, title: null, axis: { labelLimit: 400 } } },
    layer: [
      {
        mark: { type: "bar", height: 18 },
        encoding: {
          x: { field: "median", type: "quantitative", title: axis },
          color: {
            field: "ours",
            type: "nominal",
            scale: { domain: [true, false], range: ["#d9480f", "#868e96"] },
            legend: null,
          },
        },
      },
      { mark: { type: "rule", strokeWidth: 1.5 }, encoding: { x: { field: "min", type: "quantitative" }, x2: { field: "max" } } },
      {
        mark: { type: "text", align: "left", dx: 4, fontSize: 11 },
        encoding: { x: { field: "max", type: "quantitative" }, text: { field: "label" } },
      },
    ],
  });
  const spec = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title: { text: "submit-guard beside its peers (median bars, min–max whiskers)", anchor: "start" },
    vconcat: [
      panel(`P2: client overhead per submit (${p2.runsNote})`, "µs per call (lower is better)", points(p2, [p2.subject, ...p2.peers])),
      panel(`P6: server throughput (${p6[0].runsNote})`, "requests/s (higher is better)", points(p6[0], p6rows)),
    ],
    config: { font: "sans-serif", view: { stroke: null } },
  };
  const view = new vega.View(vega.parse(vegaLite.compile(spec).spec), { renderer: "none" });
  writeFileSync(path, await view.toSVG());
  view.finalize();
}

// submit-guard benchmarks: `make bench` builds what they need and runs this
// beside a throwaway PostgreSQL cluster (scripts/with-postgres.sh). It
// measures P1–P6 on this machine in one run, each figure the median of
// repeated runs with min and max beside its peers, then prints a Markdown
// table on stdout (progress goes to stderr) and writes
// bench/results.json and bench/plot.svg. It reports; it never fails on a
// missed target.
//
//   node bench/run.mjs           the full run (about 5 minutes)
//   node bench/run.mjs --quick   fewer and shorter runs, to try changes
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, totalmem } from "node:os";
import { join, relative } from "node:path";
import { bundleSizes } from "./bundle.mjs";
import { clientBenchmarks } from "./client.mjs";
import { endToEndBenchmarks } from "./e2e.mjs";
import { BENCH, ROOT, SERVER_BIN, say } from "./procs.mjs";
import { figures, markdown, plot } from "./report.mjs";
import { serverBenchmarks, wrkVersion } from "./server.mjs";

const args = process.argv.slice(2);
if (args.some((a) => a !== "--quick")) {
  console.error("usage: node bench/run.mjs [--quick]   (make bench builds what it needs first)");
  process.exit(args.includes("--help") || args.includes("-h") ? 0 : 2);
}
const quick = args.includes("--quick");

/**
 * How many runs of what, to keep a full run near five minutes on 2 cores:
 * 5 runs of the in-browser loops (P2, P3, P4), 15 of the start-up (P5:
 * each takes a few ms and swings with the machine), 3 rounds of 10 s for
 * each server (P6: seven servers with PostgreSQL, five without).
 */
const CONFIG = quick
  ? {
      p2: { runs: 3, calls: 2_000, warmup: 500 },
      p3: { runs: 3, calls: 10_000 },
      p4: { runs: 2, perMode: 200, block: 50, warmup: 20 },
      p5: { runs: 3 },
      p6: { runs: 1, seconds: 3, warmupSeconds: 1, threads: 2, connections: 64 },
    }
  : {
      p2: { runs: 5, calls: 10_000, warmup: 2_000 },
      p3: { runs: 5, calls: 10_000 },
      p4: { runs: 5, perMode: 1_000, block: 100, warmup: 100 },
      p5: { runs: 15 },
      p6: { runs: 3, seconds: 10, warmupSeconds: 1, threads: 2, connections: 64 },
    };

function required() {
  const missing = [
    [join(ROOT, "pkg/submit_guard.js"), "make pkg"],
    [SERVER_BIN, "cargo build --release -p submit-guard-server"],
  ].filter(([path]) => !existsSync(path));
  for (const [path, fix] of missing) console.error(`bench: ${relative(ROOT, path)} is missing; run \`${fix}\` (or \`make bench\`)`);
  if (missing.length) process.exit(2);
}

function sh(command, args) {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

function machine() {
  const cpu = cpus();
  return {
    cores: cpu.length,
    cpu: cpu[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    rustc: sh("rustc", ["--version"]),
    date: new Date().toISOString(),
    commit: sh("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"]),
    dirty: Boolean(sh("git", ["-C", ROOT, "status", "--porcelain", "--", "src", "server", "crates", "js", "scripts", "Cargo.lock"])),
    postgres: process.env.DATABASE_URL ? sh("psql", ["-X", "-At", "-d", process.env.DATABASE_URL, "-c", "SHOW server_version"]) : null,
  };
}

required();
const started = Date.now();
const info = machine();
const load = { start: loadavg() };
say(`${quick ? "quick run" : "full run"} on ${info.cores} × ${info.cpu}`);

const raw = {};
const timed = async (name, fn) => {
  const t0 = Date.now();
  raw[name] = await fn();
  load[name] = loadavg();
  say(`${name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
};
await timed("bundle", () => bundleSizes());
await timed("client", () => clientBenchmarks(CONFIG));
await timed("e2e", () => endToEndBenchmarks(CONFIG));
await timed("server", () => serverBenchmarks(CONFIG));
info.chromium = raw.client.chromium;
info.wrk = await wrkVersion();

const figs = figures(raw, CONFIG);
const results = {
  machine: info,
  quick,
  config: CONFIG,
  seconds: Math.round((Date.now() - started) / 1000),
  loadavg: load,
  handRolledPeer: raw.client.handRolledSource,
  figures: figs,
  raw,
};
writeFileSync(join(BENCH, "results.json"), JSON.stringify(results, null, 2) + "\n");
await plot(figs, join(BENCH, "plot.svg"));
say(`wrote bench/results.json and bench/plot.svg in ${results.seconds} s`);

const met = figs.filter((f) => f.met === true).length;
const judged = figs.filter((f) => typeof f.met === "boolean").length;
console.log(
  [
    `## submit-guard benchmarks${quick ? " (quick run: fewer, shorter runs)" : ""}`,
    "",
    `${info.date.slice(0, 10)}, ${info.cores} × ${info.cpu}, ${info.memoryGiB} GiB, Linux ${info.kernel}; ` +
      `Node ${info.node}, Chromium ${info.chromium}, ${info.wrk.split(" ").slice(0, 2).join(" ")}` +
      `${info.postgres ? `, PostgreSQL ${info.postgres.split(" ")[0]}` : ""}; ` +
      `commit ${info.commit}${info.dirty ? " (with local changes)" : ""}; ` +
      `load average ${load.start[0].toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end.`,
    "",
    markdown(figs),
    "",
    `Targets met: ${met} of ${judged}.`,
  ].join("\n"),
);

// P6: server throughput under wrk (a second process) on loopback: unique
// Idempotency-Keys on `POST /api/qr/sessions`, for four servers doing the
// same work. Each run starts the server afresh (a new SQLite file), warms it
// up, then measures; the variants take turns (rotated) within each round.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { mapValues, rotate, summarize } from "./stats.mjs";
import { BENCH, say, startNodePeer, startServer } from "./procs.mjs";

const run = promisify(execFile);
export const WRK = process.env.WRK ?? "wrk";
const SCRIPT = join(BENCH, "wrk/keyed.lua");

/** The servers, each started fresh for a run: each store with the layer and
 *  without it (the same handlers), and the Node peer. */
const VARIANTS = {
  memory: () => startServer(["--store", "memory"]),
  sqlite: (dir, run) => startServer(["--store", `sqlite:${join(dir, `bench-${run}.db`)}`]),
  noLayer: () => startServer(["--store", "memory", "--no-idempotency"]),
  noLayerSqlite: (dir, run) => startServer(["--store", `sqlite:${join(dir, `bench-off-${run}.db`)}`, "--no-idempotency"]),
  node: () => startNodePeer(),
};

/** `wrk` against `url` for `seconds`; its summary as parsed from keyed.lua. */
async function wrk(url, seconds, { threads, connections }, runId) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, "-s", SCRIPT, `${url}/api/qr/sessions`, "--", runId];
  const { stdout } = await run(WRK, args, { maxBuffer: 1 << 20 });
  const line = stdout.split("\n").find((l) => l.startsWith("{"));
  if (!line) throw new Error(`wrk printed no summary:\n${stdout}`);
  const summary = JSON.parse(line);
  const errors = Object.values(summary.errors).reduce((a, b) => a + b, 0);
  return { ...summary, rps: summary.requests / (summary.duration_us / 1e6), errorCount: errors };
}

/** `wrk -v`'s first line, e.g. "wrk 4.1.0 [epoll] …". */
export async function wrkVersion() {
  const { stdout, stderr } = await run(WRK, ["-v"]).catch((e) => e);
  return `${stdout ?? ""}${stderr ?? ""}`.split("\n")[0].trim();
}

/**
 * Returns, per variant, requests/s, p50 and p99 latency (ms) over the runs,
 * and the error count of every run (non-2xx statuses, socket errors).
 */
export async function serverBenchmarks(config) {
  const { runs, seconds, warmupSeconds, threads, connections } = config.p6;
  const dir = mkdtempSync(join(tmpdir(), "submit-guard-bench-db-"));
  const names = Object.keys(VARIANTS);
  const perRun = Object.fromEntries(names.map((n) => [n, []]));
  say(`P6 throughput: ${runs} rounds × ${names.length} servers, wrk -t${threads} -c${connections} -d${seconds}s after ${warmupSeconds} s of warm-up`);
  try {
    for (let round = 0; round < runs; round++) {
      for (const name of rotate(names, round)) {
        const server = await VARIANTS[name](dir, round);
        try {
          await wrk(server.url, warmupSeconds, { threads, connections }, `warm${round}`);
          const result = await wrk(server.url, seconds, { threads, connections }, `run${round}`);
          say(`  ${name}: ${Math.round(result.rps)} requests/s, ${result.errorCount} errors`);
          perRun[name].push(result);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return mapValues(perRun, (results) => ({
    rps: summarize(results.map((r) => r.rps)),
    p50: summarize(results.map((r) => r.latency_us.p50 / 1000)),
    p99: summarize(results.map((r) => r.latency_us.p99 / 1000)),
    errors: results.map((r) => r.errorCount),
  }));
}

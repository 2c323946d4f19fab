// P6: server throughput under wrk (a second process) on loopback: unique
// Idempotency-Keys on `POST /api/qr/sessions`, for servers doing the same
// work: each store with the idempotency layer and without it, and the Node
// peer. Each run starts the server afresh (a new SQLite file, a new
// PostgreSQL database), warms it up, then measures; the variants take turns
// (rotated) within each round. The PostgreSQL rows need `DATABASE_URL` (the
// run under scripts/with-postgres.sh, as `make bench` does); without it they
// are skipped and say so.
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

/** A fresh database on the cluster of `DATABASE_URL`; its URL and a drop. */
async function freshDatabase(name) {
  const admin = process.env.DATABASE_URL;
  const psql = (sql) => run("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", admin, "-c", sql]);
  await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await psql(`CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return { url: url.href, drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {}) };
}

/** The server on a fresh PostgreSQL database, dropped when it stops. */
async function onPostgres(name, flags) {
  const db = await freshDatabase(name);
  const server = await startServer(["--store", db.url, ...flags]);
  const stop = server.stop.bind(server);
  server.stop = async () => {
    await stop();
    await db.drop();
  };
  return server;
}

/** The servers, each started fresh for a run: each store with the layer and
 *  without it (the same handlers), and the Node peer. */
const VARIANTS = {
  memory: () => startServer(["--store", "memory"]),
  sqlite: (dir, run) => startServer(["--store", `sqlite:${join(dir, `bench-${run}.db`)}`]),
  postgres: (dir, run) => onPostgres(`bench_${run}`, []),
  noLayer: () => startServer(["--store", "memory", "--no-idempotency"]),
  noLayerSqlite: (dir, run) => startServer(["--store", `sqlite:${join(dir, `bench-off-${run}.db`)}`, "--no-idempotency"]),
  noLayerPostgres: (dir, run) => onPostgres(`bench_off_${run}`, ["--no-idempotency"]),
  node: () => startNodePeer(),
};
const NEEDS_POSTGRES = ["postgres", "noLayerPostgres"];

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
  const postgres = Boolean(process.env.DATABASE_URL);
  if (!postgres) say("P6: no DATABASE_URL, so no PostgreSQL rows (run under scripts/with-postgres.sh, as make bench does)");
  const names = Object.keys(VARIANTS).filter((n) => postgres || !NEEDS_POSTGRES.includes(n));
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

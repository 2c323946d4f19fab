// What the end-to-end tests and the benchmarks share: servers started as
// child processes on a free loopback port, temporary static directories, and
// the flags the system Chromium runs with.
//
// Every child started here is killed when the Node process exits, whatever
// the outcome, so nothing is left running.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The system Chromium (Debian's); browsers are never downloaded. */
export const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Chromium flags for headless runs as root, with no outside connections. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-dev-shm-usage",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => process.exit(130));

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

/**
 * Starts `command args` and waits for its `listening on URL` line; resolves
 * to an instance of `Kind` (a `Listening`). The last 20 KB of its stderr are
 * kept for the error if it fails to start, unless `quiet` drops stderr.
 */
export async function startListening(command, args, { env = {}, Kind = Listening, quiet = false } = {}) {
  const stderr = quiet ? "ignore" : "pipe";
  const child = spawn(command, args, { stdio: ["ignore", "pipe", stderr], env: { ...process.env, ...env } });
  children.add(child);
  let log = quiet ? "(stderr not kept)" : "";
  child.stderr?.on("data", (chunk) => {
    log = (log + chunk).slice(-20_000);
  });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${command} did not start within 15 s; its log:\n${log}`)), 15_000);
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
      reject(new Error(`${command} ${args.join(" ")} exited with ${code}; its log:\n${log}`));
    });
  });
  return new Kind(child, url);
}

/** A temporary directory to serve statically: `files` maps names to the
 *  paths they link to. Removed when the process exits. */
export function staticDir(files, prefix = "submit-guard-") {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const [name, target] of Object.entries(files)) symlinkSync(target, join(dir, name));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// What the end-to-end tests share: starting the reference server on a free
// loopback port, driving the system Chromium with playwright-core, reading
// what the server saw, and saving screenshots as artifacts.
//
// Every server started here is killed when the test process exits, whatever
// the outcome, so no test leaves a process behind.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, symlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const ARTIFACTS = join(ROOT, "tests/e2e/artifacts");
const SERVER_BIN = process.env.SUBMIT_GUARD_SERVER_BIN ?? join(ROOT, "target/debug/submit-guard-server");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const children = new Set();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => process.exit(130));
}

/** A running reference server, with helpers to ask it what happened. */
export class Server {
  constructor(child, url) {
    this.child = child;
    this.url = url;
  }

  async json(path, init) {
    const response = await fetch(this.url + path, init);
    if (!response.ok) throw new Error(`${init?.method ?? "GET"} ${path}: ${response.status} ${await response.text()}`);
    return response.json();
  }

  /** The requests received since the last reset, CORS preflights left out. */
  async requests(pathPart = "") {
    const all = await this.json("/api/_requests");
    return all.filter((r) => r.method !== "OPTIONS" && r.path.includes(pathPart));
  }

  async reset() {
    const response = await fetch(this.url + "/api/_reset", { method: "POST" });
    if (!response.ok) throw new Error(`reset: ${response.status}`);
  }

  async stop() {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
    children.delete(this.child);
  }
}

/** Starts `submit-guard-server` on 127.0.0.1:0 with `flags`. */
export async function startServer(flags = []) {
  const child = spawn(SERVER_BIN, ["--addr", "127.0.0.1:0", ...flags], { stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let log = "";
  child.stderr.on("data", (chunk) => {
    log = (log + chunk).slice(-20_000);
  });
  const url = await new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`the server did not start; its log:\n${log}`)), 15_000);
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
      reject(new Error(`the server exited with ${code}; its log:\n${log}`));
    });
  });
  return new Server(child, url);
}

/** A directory to serve statically: `files` maps names to paths to link. */
export function staticDir(files) {
  const dir = mkdtempSync(join(tmpdir(), "submit-guard-e2e-"));
  for (const [name, target] of Object.entries(files)) symlinkSync(target, join(dir, name));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Headless Chromium from the system (no browser download). */
export function launch(options = {}) {
  return chromium.launch({
    ...options,
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** A new page whose uncaught errors fail the test that asks for them. */
export async function newPage(context) {
  const page = await context.newPage();
  page.errors = [];
  page.on("pageerror", (error) => page.errors.push(error));
  return page;
}

/** Saves a screenshot under tests/e2e/artifacts/ (not committed). */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/** Polls `check` until it returns a truthy value or `ms` pass. */
export async function eventually(check, ms = 5000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms: ${check}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

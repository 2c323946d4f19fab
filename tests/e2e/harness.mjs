// What the end-to-end tests share: starting the reference server on a free
// loopback port, driving the system Chromium with playwright-core, reading
// what the server saw, and saving screenshots as artifacts.
//
// Every server started here is killed when the test process exits, whatever
// the outcome, so no test leaves a process behind (scripts/lib/processes.mjs).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM, CHROMIUM_ARGS, Listening, startListening, staticDir as tempDir } from "../../scripts/lib/processes.mjs";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const ARTIFACTS = join(ROOT, "tests/e2e/artifacts");
const SERVER_BIN = process.env.SUBMIT_GUARD_SERVER_BIN ?? join(ROOT, "target/debug/submit-guard-server");

/** A running reference server, with helpers to ask it what happened. */
export class Server extends Listening {
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
}

/** Starts `submit-guard-server` (the debug build) on 127.0.0.1:0 with `flags`. */
export function startServer(flags = []) {
  return startListening(SERVER_BIN, ["--addr", "127.0.0.1:0", ...flags], { Kind: Server });
}

/** A directory to serve statically: `files` maps names to paths to link. */
export function staticDir(files) {
  return tempDir(files, "submit-guard-e2e-");
}

/** A scratch directory under the system's temporary one, removed when the process exits. */
export function scratchDir(name) {
  const dir = mkdtempSync(join(tmpdir(), `submit-guard-${name}-`));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `vite build …args` with the demo's config and React's development build, whose warnings the tests read. */
export function viteBuild(...args) {
  execFileSync(join(ROOT, "node_modules/.bin/vite"), ["build", ...args, "--config", join(ROOT, "www/vite.config.js"), "--emptyOutDir", "--logLevel", "error"], {
    env: { ...process.env, NODE_ENV: "development" },
    stdio: ["ignore", "inherit", "inherit"],
  });
}

/**
 * A suite over built pages: before its tests, `prepare()` builds them and
 * returns the directory to serve, a test-mode server serves it on loopback
 * and Chromium is launched, then `ready(server, browser)` (awaited); the server's
 * record is reset before each test; both stop after the last.
 */
export function servePages(prepare, ready) {
  let server, browser;
  before(async () => {
    const dir = await prepare();
    server = await startServer(["--store", "memory", "--test-mode", "--static", dir]);
    browser = await launch();
    await ready(server, browser);
  });
  beforeEach(() => server.reset());
  after(async () => {
    await browser?.close();
    await server?.stop();
  });
}

/** Headless Chromium from the system (no browser download). */
export function launch(options = {}) {
  return chromium.launch({ ...options, executablePath: CHROMIUM, args: CHROMIUM_ARGS });
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

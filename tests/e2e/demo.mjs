// What the demo tests share: a server serving the built demo (`--static www`
// serves www/dist, as in the README) in test mode, one fresh browser context
// per test, and questions to the server.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach } from "node:test";
import { ROOT, eventually, launch, newPage, startServer } from "./harness.mjs";

export const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/**
 * The reference server serving the demo; `store` is `memory` or `sqlite:PATH`.
 * Without a build in www/dist the server refuses to start and says so.
 */
export async function startDemo(store = "memory") {
  return startServer(["--store", store, "--static", join(ROOT, "www"), "--test-mode"]);
}

/**
 * Registers a demo test file's hooks and returns what they set up: `server`
 * serving the demo with `store` (memory, or `sqliteStore()`), `browser`, and
 * `tabs`, whose pages are closed after each test; the server is reset before
 * each test and stopped, with the browser, after the last.
 */
export function useDemo(store = "memory") {
  const demo = {};
  before(async () => {
    demo.server = await startDemo(store);
    demo.browser = await launch();
    demo.tabs = new Tabs(demo.browser, demo.server);
  });
  beforeEach(() => demo.server.reset());
  afterEach(() => demo.tabs.closeAll());
  after(async () => {
    await demo.browser?.close();
    await demo.server?.stop();
  });
  return demo;
}

/** A SQLite store in a temporary directory, removed when the process exits. */
export function sqliteStore() {
  const dir = mkdtempSync(join(tmpdir(), "submit-guard-e2e-db-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return `sqlite:${join(dir, "e2e.db")}`;
}

/**
 * Counts the SubmitGuard instances the page creates and frees: the package's
 * `--weak-refs` build registers each guard with a FinalizationRegistry whose
 * cleanup calls `__wbg_submitguard_free`, and `free()` unregisters it.
 */
function countGuards() {
  window.__guards = { created: 0, freed: 0 };
  const Registry = window.FinalizationRegistry;
  window.FinalizationRegistry = class extends Registry {
    constructor(cleanup) {
      super(cleanup);
      this.guards = String(cleanup).includes("submitguard_free");
    }
    register(...args) {
      if (this.guards) window.__guards.created += 1;
      return super.register(...args);
    }
    unregister(token) {
      if (this.guards) window.__guards.freed += 1;
      return super.unregister(token);
    }
  };
}

/** Per-test browser contexts and pages, closed by `closeAll` (call it in afterEach). */
export class Tabs {
  constructor(browser, server) {
    this.browser = browser;
    this.server = server;
    this.contexts = [];
  }

  /** A new context (its own tabs share it) with the guard counter installed. */
  async context() {
    const context = await this.browser.newContext({ viewport: { width: 1200, height: 900 } });
    await context.addInitScript(countGuards);
    this.contexts.push(context);
    return context;
  }

  /** A new tab at `hash` (`#/orgs?guard=off`), in `context` or a new one. */
  async open(hash, context) {
    const page = await newPage(context ?? (await this.context()));
    page.setDefaultTimeout(10_000);
    await page.goto(`${this.server.url}/${hash}`);
    return page;
  }

  async closeAll() {
    await Promise.all(this.contexts.map((c) => c.close()));
    this.contexts = [];
  }
}

/** The POSTs the server received whose path contains `pathPart`. */
export async function posts(server, pathPart) {
  return (await server.requests(pathPart)).filter((r) => r.method === "POST");
}

/** Waits until `n` POSTs to `pathPart` arrived and all were answered; returns them. */
export async function answered(server, pathPart, n) {
  return eventually(async () => {
    const seen = await posts(server, pathPart);
    return seen.length === n && seen.every((r) => r.status !== null) && seen;
  }, 10_000);
}

/** Waits until the page's guard is no longer pending (or the guard is off and nothing is in flight). */
export async function idle(page) {
  await page.waitForFunction(() => !document.querySelector('button[aria-busy="true"]'), null, { timeout: 10_000 });
}

export async function guards(page) {
  return page.evaluate(() => window.__guards);
}

/** The page threw nothing uncaught. */
export function noPageErrors(...pages) {
  for (const page of pages) assert.deepEqual(page.errors.map(String), []);
}

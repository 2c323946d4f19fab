// React 19 actions: 10 same-tick submissions through useActionState. With
// useGuardedActionState the lock is taken when each is dispatched: 1 request.
// With plain useActionState React runs them one after the other: 10.
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { ROOT, eventually, newPage, scratchDir, servePages, viteBuild } from "./harness.mjs";

let server, browser;

servePages(
  () => {
    const out = scratchDir("action");
    viteBuild(join(ROOT, "tests/e2e/pages/action"), "--outDir", out);
    return out;
  },
  (s, b) => ([server, browser] = [s, b]),
);

/** Submits 10 times in one task; resolves once React has run every queued action. */
async function burst(query, runs) {
  const page = await newPage(await browser.newContext());
  await page.goto(`${server.url}/?${query}`);
  await page.locator("#runs").waitFor();
  await page.evaluate(() => window.burst());
  await eventually(async () => (await page.locator("#runs").textContent()) === runs, 10_000);
  await eventually(async () => (await page.locator("#pending").textContent()) === "false", 10_000);
  const requests = (await server.requests("t=action")).filter((r) => r.method === "POST");
  return { page, requests };
}

test("useGuardedActionState: 10 same-tick submits through useActionState send 1 request", async () => {
  // The action's body ran once: every queued action settled with its result.
  const { page, requests } = await burst("guard=on", "1");
  assert.equal(requests.length, 1, JSON.stringify(requests));
  assert.ok(requests[0].key);
  assert.notEqual(await page.locator("#id").textContent(), "");
  assert.deepEqual(page.errors, []);
});

test("plain useActionState: the same burst sends 10 requests (the bug)", async () => {
  const { requests } = await burst("guard=off", "10");
  assert.equal(requests.length, 10);
});

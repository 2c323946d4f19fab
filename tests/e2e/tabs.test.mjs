// Across tabs and page lifecycles: crossTab, persist and the back/forward
// cache, with the package's web build against the reference server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, eventually, launch, newPage, servePages, staticDir } from "./harness.mjs";

let server, browser;

servePages(
  () =>
    staticDir({
      "guard.html": join(ROOT, "tests/e2e/pages/guard.html"),
      "other.html": join(ROOT, "tests/e2e/pages/other.html"),
      pkg: join(ROOT, "pkg"),
    }),
  (s, b) => ([server, browser] = [s, b]),
);

async function open(context, query) {
  const page = await newPage(context);
  await page.goto(`${server.url}/guard.html?${query}`);
  await page.waitForFunction(() => window.ready);
  return page;
}

async function sessionsFor(table) {
  return (await server.json("/api/qr/sessions")).filter((s) => s.table === table).length;
}

test("crossTab: two tabs submitting at once send one request and settle with the same result", async () => {
  const context = await browser.newContext();
  const [a, b] = await Promise.all([open(context, "name=order&crossTab=1"), open(context, "name=order&crossTab=1")]);
  // The first request is slow, so the second tab really finds it in flight.
  const [ra, rb] = await Promise.all([
    a.evaluate(() => submit("cross", { "x-fault": "delay=400" })),
    b.evaluate(() => submit("cross", { "x-fault": "delay=400" })),
  ]);
  assert.equal(ra.ok, true, JSON.stringify(ra));
  assert.equal(rb.ok, true, JSON.stringify(rb));
  assert.equal(ra.status, 201);
  assert.equal(rb.status, 201);
  assert.deepEqual(ra.body, rb.body, "both tabs settle with the one response");
  assert.equal((await server.requests("t=cross")).length, 1);
  assert.equal(await sessionsFor("t1"), 1);
  assert.deepEqual(await a.evaluate(() => guard.state), "succeeded");
  assert.deepEqual(await b.evaluate(() => guard.state), "succeeded");
  await context.close();
});

test("crossTab with onDuplicate reject: the second tab fails at once with CROSS_TAB", async () => {
  const context = await browser.newContext();
  const [a, b] = await Promise.all([
    open(context, "name=order&crossTab=1&reject=1"),
    open(context, "name=order&crossTab=1&reject=1"),
  ]);
  const first = a.evaluate(() => submit("reject", { "x-fault": "delay=500" }));
  await eventually(async () => (await server.requests("t=reject")).length === 1);
  const second = await b.evaluate(() => submit("reject"));
  assert.equal(second.ok, false);
  assert.equal(second.code, "CROSS_TAB");
  assert.equal((await first).ok, true);
  assert.equal((await server.requests("t=reject")).length, 1);
  await context.close();
});

test("crossTab: a tab waiting for another tab's result stops when its own signal aborts", async () => {
  const context = await browser.newContext();
  const [a, b] = await Promise.all([open(context, "name=order&crossTab=1"), open(context, "name=order&crossTab=1")]);
  const first = a.evaluate(() => submit("waiter", { "x-fault": "delay=1500" }));
  await eventually(async () => (await server.requests("t=waiter")).length === 1);
  const waiter = await b.evaluate(() => submit("waiter", {}, { abortAfterMs: 100 }));
  assert.equal(waiter.ok, false, JSON.stringify(waiter));
  assert.equal(waiter.code, "ABORTED");
  assert.equal(await a.evaluate(() => guard.pending), true, "the holder is still in flight");
  assert.equal(await b.evaluate(() => guard.state), "failed");
  assert.equal((await first).ok, true);
  assert.equal((await server.requests("t=waiter")).length, 1);
  await context.close();
});

test("crossTab: when the tab holding the lock is closed, the waiting tab submits with its key", async () => {
  const context = await browser.newContext();
  const [a, b] = await Promise.all([open(context, "name=claim&crossTab=1"), open(context, "name=claim&crossTab=1")]);
  a.evaluate(() => submit("handoff", { "x-fault": "delay=800; times=1" })).catch(() => {});
  await eventually(async () => (await server.requests("t=handoff")).length === 1);
  const waiting = b.evaluate(() => submit("handoff"));
  await a.close(); // the holder dies mid-flight: no result is ever broadcast
  const result = await waiting;
  assert.equal(result.ok, true, JSON.stringify(result));
  const requests = await server.requests("t=handoff");
  assert.equal(requests.length, 2, JSON.stringify(requests));
  assert.equal(requests[1].key, requests[0].key, "the waiting tab reused the first tab's key");
  assert.equal(await sessionsFor("t1"), 1);
  await context.close();
});

test("persist: a reload mid-flight, then the same payload again, is replayed: one effect", async () => {
  const context = await browser.newContext();
  const page = await open(context, "name=checkout&persist=1");
  const key = await page.evaluate(() => guard.key);
  // The request reaches the server and is committed, but the page reloads
  // before the response arrives: the lost-response case a reload causes.
  let reloaded;
  await page.route("**/api/qr/sessions?t=reload", async (route) => {
    await route.fetch();
    reloaded = page.reload();
  });
  page.evaluate(() => submit("reload")).catch(() => {});
  await eventually(() => reloaded);
  await reloaded;
  await page.unroute("**/api/qr/sessions?t=reload");
  await page.waitForFunction(() => window.ready);
  assert.equal(await page.evaluate(() => guard.key), key, "the pending key survived the reload");
  const again = await page.evaluate(() => submit("reload"));
  assert.equal(again.ok, true, JSON.stringify(again));
  assert.equal(again.replayed, "true", "the server replayed the committed result");
  const requests = await server.requests("t=reload");
  assert.deepEqual(
    requests.map((r) => r.key),
    [key, key],
  );
  assert.equal(await sessionsFor("t1"), 1);
  // After the success the stored key is gone: a reload starts fresh.
  await page.reload();
  await page.waitForFunction(() => window.ready);
  assert.notEqual(await page.evaluate(() => guard.key), key);
  await context.close();
});

test("persist: a duplicated tab (sessionStorage copied) gets a new key while the original lives", async () => {
  const context = await browser.newContext();
  const original = await open(context, "name=signup&persist=1");
  // A failure leaves the key pending in the original tab's sessionStorage.
  const failed = await original.evaluate(() => submit("dup", { "x-fault": "status=400" }));
  assert.equal(failed.code, "HTTP");
  const pendingKey = await original.evaluate(() => guard.key);
  const storage = await original.evaluate(() => JSON.stringify(Object.entries(sessionStorage)));
  assert.ok(storage.includes(pendingKey), "the pending key is in sessionStorage");

  // What a browser's "duplicate tab" does: a new page with a copy of it.
  const duplicate = await newPage(context);
  await duplicate.addInitScript((entries) => {
    if (!sessionStorage.length) for (const [k, v] of JSON.parse(entries)) sessionStorage.setItem(k, v);
  }, storage);
  await duplicate.goto(`${server.url}/guard.html?name=signup&persist=1`);
  await duplicate.waitForFunction(() => window.ready);
  const result = await duplicate.evaluate(() => submit("dup"));
  assert.equal(result.ok, true);
  const keys = (await server.requests("t=dup")).map((r) => r.key);
  assert.equal(keys.length, 2);
  assert.equal(keys[0], pendingKey);
  assert.notEqual(keys[1], pendingKey, "the duplicate did not reuse the original's pending key");

  // The original, reloaded, still resubmits with its own pending key.
  await original.reload();
  await original.waitForFunction(() => window.ready);
  await original.evaluate(() => submit("dup"));
  const last = (await server.requests("t=dup")).at(-1);
  assert.equal(last.key, pendingKey);
  await context.close();
});

test("back/forward cache: a submission left pending is released; the button works again", async () => {
  // Playwright turns the back/forward cache off by default; this test needs it.
  const bfcacheBrowser = await launch({ ignoreDefaultArgs: ["--disable-back-forward-cache"] });
  const context = await bfcacheBrowser.newContext();
  const page = await open(context, "name=bfcache");
  const key = await page.evaluate(() => guard.key);
  // A submission that never settles on its own (waiting on the user, say).
  await page.evaluate(() => {
    window.never = guard.run(() => new Promise(() => {})).catch((e) => e.code);
  });
  assert.equal(await page.locator("button").isDisabled(), true);
  await page.goto(`${server.url}/other.html`);
  await page.goBack({ waitUntil: "commit" });
  await page.waitForFunction(() => window.restored !== undefined);
  assert.equal(await page.evaluate(() => window.restored), true, "the page came back from the bfcache");
  await eventually(() => page.locator("button").isEnabled());
  assert.equal(await page.evaluate(() => window.never), "ABORTED");
  assert.equal(await page.evaluate(() => guard.state), "failed");
  assert.equal(await page.evaluate(() => guard.key), key, "the key is kept for the resubmit");
  const result = await page.evaluate(() => submit("bfcache"));
  assert.equal(result.ok, true);
  assert.equal((await server.requests("t=bfcache"))[0].key, key);
  await bfcacheBrowser.close();
});

test("without Web Locks, crossTab falls back to same-tab dedupe", async () => {
  const context = await browser.newContext();
  await context.addInitScript(() => {
    Object.defineProperty(Navigator.prototype, "locks", { get: () => undefined, configurable: true });
  });
  const [a, b] = await Promise.all([open(context, "name=order&crossTab=1"), open(context, "name=order&crossTab=1")]);
  assert.equal(await a.evaluate(() => navigator.locks), undefined);
  const burst = (page) =>
    page.evaluate(async () => {
      const results = await Promise.all(Array.from({ length: 5 }, () => submit("nolocks")));
      return results.every((r) => r.ok);
    });
  const [okA, okB] = await Promise.all([burst(a), burst(b)]);
  assert.ok(okA && okB, "every call succeeded");
  const keys = (await server.requests("t=nolocks")).map((r) => r.key);
  assert.equal(keys.length, 2, "one request per tab: same-tab dedupe still holds");
  assert.notEqual(keys[0], keys[1]);
  await context.close();
});

// The lost response, as a page really sees it: the server commits the effect
// and then sends a response head no client may accept (`X-Fault:
// garble-after-commit`), so `fetch` rejects with a TypeError and Chromium
// does not resend. Only the guard's own retry, with the same key, can recover
// it. (`drop-after-commit` — a silent close — cannot show this: on a
// kept-alive connection Chromium resends the POST itself, so the page never
// sees the loss; the last test pins that down.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, newPage, servePages, staticDir } from "./harness.mjs";

let server, browser;

servePages(
  () =>
    staticDir({ "submit.html": join(ROOT, "tests/e2e/pages/submit.html"), pkg: join(ROOT, "pkg") }),
  (s, b) => ([server, browser] = [s, b]),
);

async function open(query = "") {
  const page = await newPage(await browser.newContext());
  await page.goto(`${server.url}/submit.html?${query}`);
  await page.waitForFunction(() => window.ready);
  // Warm a kept-alive connection, where a browser resends a request whose
  // connection closed without a response.
  await page.evaluate(() => fetch("/api/orgs").then((r) => r.text()));
  return page;
}

const LOST = { "x-fault": "garble-after-commit; times=1" };
const orgPosts = async () => (await server.requests("/api/orgs")).filter((r) => r.method === "POST");

test("a lost response is retried by the guard with the same key: attempts 2, 2 requests, 1 org, replayed", async () => {
  const page = await open();
  const seen = await page.evaluate((h) => window.submit("/api/orgs", { name: "Lost Inc" }, h), LOST);
  assert.equal(seen.ok, true, JSON.stringify(seen));
  assert.equal(seen.status, 201);
  assert.equal(seen.replayed, true, "the retry got the stored response");
  assert.equal(await page.evaluate(() => window.guard.attempts), 2, "the guard made the second attempt");
  assert.equal(await page.evaluate(() => window.guard.state), "succeeded");
  const sent = await orgPosts();
  assert.equal(sent.length, 2, JSON.stringify(sent));
  assert.equal(sent[0].status, null, "the first attempt got no response");
  assert.ok(sent[0].key, "keyed");
  assert.equal(sent[1].key, sent[0].key, "the retry carries the same key");
  assert.equal(sent[1].status, 201);
  const orgs = await server.json("/api/orgs");
  assert.equal(orgs.length, 1, "one effect");
  assert.equal(seen.body.id, orgs[0].id);
});

test("the same lost response with retries: 0 fails with NETWORK; the user's resubmit replays it", async () => {
  const page = await open("retries=0");
  const seen = await page.evaluate((h) => window.submit("/api/orgs", { name: "Lost Inc" }, h), LOST);
  assert.deepEqual([seen.ok, seen.name, seen.code], [false, "SubmitGuardError", "NETWORK"], JSON.stringify(seen));
  assert.equal(await page.evaluate(() => window.guard.attempts), 1);
  assert.equal(await page.evaluate(() => window.guard.state), "failed");
  const sent = await orgPosts();
  assert.equal(sent.length, 1, `the browser did not resend: ${JSON.stringify(sent)}`);
  assert.equal((await server.json("/api/orgs")).length, 1, "the effect committed anyway");
  // The user tries again with the same guard: same key, the stored response.
  const again = await page.evaluate(() => window.submit("/api/orgs", { name: "Lost Inc" }));
  assert.equal(again.status, 201);
  assert.equal(again.replayed, true);
  const keys = (await orgPosts()).map((r) => r.key);
  assert.deepEqual(keys, [keys[0], keys[0]]);
  assert.equal((await server.json("/api/orgs")).length, 1);
});

test("without the guard the lost response is an error, and the user's retry makes a duplicate", async () => {
  const page = await open();
  const seen = await page.evaluate((h) => window.plainSubmit("/api/orgs", { name: "Lost Inc" }, h), LOST);
  assert.deepEqual([seen.ok, seen.name], [false, "TypeError"], JSON.stringify(seen));
  assert.equal((await orgPosts()).length, 1, "the browser did not resend");
  const again = await page.evaluate(() => window.plainSubmit("/api/orgs", { name: "Lost Inc" }));
  assert.equal(again.status, 201);
  assert.equal((await server.json("/api/orgs")).length, 2, "two orgs: the bug the guard fixes");
});

test("drop-after-commit is resent by Chromium itself: the guard's retry never runs", async () => {
  const page = await open("retries=0");
  const seen = await page.evaluate(
    () => window.submit("/api/orgs", { name: "Dropped" }, { "x-fault": "drop-after-commit; times=1" }),
  );
  assert.equal(seen.status, 201, JSON.stringify(seen));
  assert.equal(seen.replayed, true);
  assert.equal(await page.evaluate(() => window.guard.attempts), 1, "one attempt as the guard counts");
  const sent = await orgPosts();
  assert.equal(sent.length, 2, "two requests on the wire: the browser's own resend");
  assert.equal(sent[1].key, sent[0].key);
});

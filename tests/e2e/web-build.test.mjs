// The package's web build in a plain page, against the reference server.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, launch, newPage, startServer, staticDir } from "./harness.mjs";

let server, browser, page;

before(async () => {
  const dir = staticDir({
    "index.html": join(ROOT, "tests/e2e/pages/web-build.html"),
    pkg: join(ROOT, "pkg"),
  });
  server = await startServer(["--store", "memory", "--test-mode", "--static", dir]);
  browser = await launch();
  page = await newPage(await browser.newContext());
  await page.goto(server.url + "/");
  await page.waitForFunction(() => window.SubmitGuard);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("10 same-tick POSTs reach the server as one request with an Idempotency-Key", async () => {
  const result = await page.evaluate(async () => {
    const guard = new SubmitGuard();
    const key = guard.key;
    const post = () =>
      guard.fetch("/api/qr/sessions?t=ten", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ table: "ten" }),
      });
    const responses = await Promise.all(Array.from({ length: 10 }, post));
    const bodies = await Promise.all(responses.map((r) => r.json()));
    return { key, after: guard.key, ids: bodies.map((b) => b.id), state: guard.state };
  });
  const requests = await server.requests("t=ten");
  assert.equal(requests.length, 1);
  assert.equal(requests[0].key, result.key);
  assert.match(result.key, UUID_V4);
  assert.equal(new Set(result.ids).size, 1, "every caller got the one response");
  assert.equal(result.state, "succeeded");
  assert.match(result.after, UUID_V4);
  assert.notEqual(result.after, result.key, "a success replaces the key");
  assert.deepEqual(page.errors, []);
});

test("a 503 then a 201: two requests with the same key, then a new key", async () => {
  const result = await page.evaluate(async () => {
    const guard = new SubmitGuard({ backoffMs: 1, maxBackoffMs: 1 });
    const key = guard.key;
    const response = await guard.fetch("/api/qr/sessions?t=503", {
      method: "POST",
      headers: { "content-type": "application/json", "x-fault": "status=503; times=1" },
      body: JSON.stringify({ table: "503" }),
    });
    return { key, after: guard.key, status: response.status, attempts: guard.attempts };
  });
  const requests = await server.requests("t=503");
  assert.deepEqual(
    requests.map((r) => [r.key, r.status]),
    [
      [result.key, 503],
      [result.key, 201],
    ],
  );
  assert.equal(result.status, 201);
  assert.equal(result.attempts, 2);
  assert.notEqual(result.after, result.key);
  assert.match(result.after, UUID_V4);
});

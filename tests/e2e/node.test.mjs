// The package in plain Node ESM: imported and constructed with no init call,
// no flags and no bundler; a guard sends through Node's own fetch.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { ROOT, startServer } from "./harness.mjs";

let server;
const entry = pathToFileURL(join(ROOT, "pkg/submit_guard.js")).href;

before(async () => {
  server = await startServer(["--store", "memory", "--test-mode"]);
});

after(() => server?.stop());

test("Node imports the package and constructs a guard with no init call", async () => {
  const { SubmitGuard, SubmitGuardError, isSubmitGuardError } = await import(entry);
  const guard = new SubmitGuard();
  assert.match(guard.key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(guard.state, "idle");
  const send = () =>
    guard.fetch(`${server.url}/api/qr/sessions?t=node`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ table: "node" }),
    });
  const responses = await Promise.all([send(), send(), send()]);
  assert.deepEqual(responses.map((r) => r.status), [201, 201, 201]);
  assert.equal((await server.requests("t=node")).length, 1);
  const error = await guard.fetch("http://127.0.0.1:9/x", { method: "POST" }).catch((e) => e);
  assert.ok(error instanceof SubmitGuardError && isSubmitGuardError(error), String(error));
  assert.equal(error.code, "NETWORK");
  assert.ok(!isSubmitGuardError(new Error("x")));
});

test("the React hook's module imports in Node", async () => {
  const react = await import(pathToFileURL(join(ROOT, "pkg/react.js")).href).catch((e) => e);
  // React itself is an optional peer: present in this workspace.
  assert.equal(typeof react.useSubmitGuard, "function", react instanceof Error ? react.message : "no hook");
});

test("a freed guard says so: a TypeError naming the method, a rejection for fetch and run", async () => {
  const { SubmitGuard } = await import(entry);
  const guard = new SubmitGuard();
  guard.free();
  guard.free(); // a second free does nothing
  guard[Symbol.dispose]?.(); // nor does disposing a freed guard
  const freed = /^submit-guard: (\w+): this SubmitGuard was freed/;
  for (const [name, call] of [
    ["state", () => guard.state],
    ["key", () => guard.key],
    ["reset", () => guard.reset()],
    ["abort", () => guard.abort()],
    ["subscribe", () => guard.subscribe(() => {})],
  ]) {
    assert.throws(call, (e) => e instanceof TypeError && freed.exec(e.message)?.[1] === name, name);
  }
  for (const call of [() => guard.fetch(`${server.url}/api/qr/sessions?t=freed`, { method: "POST" }), () => guard.run(() => 1)]) {
    const error = await call().catch((e) => e);
    assert.ok(error instanceof TypeError && freed.test(error.message), String(error));
  }
  assert.throws(() => SubmitGuard.prototype.reset.call({}), TypeError);
  assert.equal((await server.requests("t=freed")).length, 0);
  assert.equal(new SubmitGuard().state, "idle", "the next guard is usable");
});

test("a Map as options is refused, not read as no options", async () => {
  const { SubmitGuard } = await import(entry);
  assert.throws(
    () => new SubmitGuard(new Map([["retries", 0]])),
    (e) => e instanceof TypeError && e.message === "SubmitGuard options must be an object, got a Map",
  );
  assert.equal(new SubmitGuard({ retries: 0 }).state, "idle", "the next guard is made as usual");
});

test("a large body is read once: its fingerprint costs one pass", async () => {
  const { SubmitGuard } = await import(entry);
  // A body whose reads are counted: String(body) is what payloadOf reads.
  let reads = 0;
  const body = { toString: () => (reads++, "x".repeat(1000)) };
  const guard = new SubmitGuard({ retries: 0, fetch: async () => new Response("ok") });
  await guard.fetch(`${server.url}/api/anything`, { method: "POST", body });
  assert.equal(reads, 1 + 1, "once by the Request that holds it, once by the fingerprint");
});

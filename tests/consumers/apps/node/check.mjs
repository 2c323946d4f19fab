// Plain Node ESM, as a server-side script or a test would use the package:
// the imports resolve with no flags and no init call, a guard constructs,
// and 10 same-tick submissions to the server ($SUBMIT_GUARD_SERVER) share
// one request. run.mjs then asks the server what it received.
import assert from "node:assert/strict";
import { SubmitGuard } from "submit-guard";
import { useSubmitGuard } from "submit-guard/react";

assert.equal(typeof useSubmitGuard, "function", "submit-guard/react exports useSubmitGuard");
const guard = new SubmitGuard();
assert.match(guard.key, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
assert.equal(guard.state, "idle");

const server = process.env.SUBMIT_GUARD_SERVER;
assert.ok(server, "SUBMIT_GUARD_SERVER is the reference server's URL");
const submit = () =>
  guard.fetch(`${server}/api/orgs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "Node" }),
  });
const responses = await Promise.all(Array.from({ length: 10 }, submit));
assert.deepEqual(
  responses.map((r) => r.status),
  Array(10).fill(201),
);
assert.equal(guard.state, "succeeded");
console.log("node: imported, constructed, 10 submissions settled");

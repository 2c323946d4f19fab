// Table QR (field report 003): the page opens a session in an effect on
// mount, and the app runs under StrictMode, which mounts it twice in this
// development build. The hook keeps one guard per component instance, so
// the second run shares the first one's request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, screenshot } from "./harness.mjs";
import { UUID_V4, answered, guards, noPageErrors, posts, useDemo } from "./demo.mjs";

const demo = useDemo("memory");

const PATH = "/api/qr/sessions";

test("StrictMode runs the effect twice, yet one guard sends one request: 1 session", async () => {
  const page = await demo.tabs.open("#/qr");
  await page.getByTestId("success").filter({ hasText: "for table 7" }).waitFor();
  const [request] = await answered(demo.server, PATH, 1);
  assert.match(request.key, UUID_V4);
  assert.equal(request.status, 201);
  assert.equal((await demo.server.json(PATH)).length, 1);
  await eventually(async () => (await page.getByTestId("session-count").textContent()) === "1 created");
  // One SubmitGuard for the component, through the double render and the
  // simulated unmount and remount, and not freed by them.
  assert.deepEqual(await guards(page), { created: 1, freed: 0 });
  noPageErrors(page);
});

test("an injected error, then Retry: the same key, exactly 1 more session", async () => {
  const page = await demo.tabs.open("#/qr?simulate=none");
  await page.getByTestId("success").waitFor();
  assert.equal((await demo.server.json(PATH)).length, 1);

  await page.getByLabel("Simulate").selectOption("error");
  await page.getByRole("button", { name: "Scan the code again" }).click();
  const alert = page.getByRole("alert");
  await alert.filter({ hasText: "HTTP 500" }).waitFor();
  const failed = (await posts(demo.server, PATH)).slice(1);
  assert.deepEqual(
    failed.map((r) => r.status),
    [500, 500, 500],
    "the first attempt and two automatic retries",
  );
  const key = failed[0].key;
  assert.ok(failed.every((r) => r.key === key));
  assert.equal(await page.getByTestId("key").textContent(), key, "the failure kept the key");
  assert.equal((await demo.server.json(PATH)).length, 1, "nothing created yet");

  await alert.getByRole("button", { name: "Retry with the same key" }).click();
  await page.getByTestId("success").waitFor();
  const sent = await answered(demo.server, PATH, 5);
  assert.deepEqual(sent.at(-1), { ...sent.at(-1), key, fault: null, status: 201 });
  assert.equal((await demo.server.json(PATH)).length, 2, "exactly one more session");
  await eventually(async () => (await page.getByTestId("session-count").textContent()) === "2 created");
  // The remount made a second guard and freed the first.
  assert.deepEqual(await guards(page), { created: 2, freed: 1 });
  await screenshot(page, "qr");
  noPageErrors(page);
});

test("with the guard off, StrictMode's second effect opens a second session (the bug)", async () => {
  const page = await demo.tabs.open("#/qr?guard=off");
  const sent = await answered(demo.server, PATH, 2);
  assert.ok(sent.every((r) => r.key === null && r.status === 201));
  assert.equal((await demo.server.json(PATH)).length, 2);
  await eventually(async () => (await page.getByTestId("session-count").textContent()) === "2 created");
  await screenshot(page, "qr-guard-off");
  noPageErrors(page);
});

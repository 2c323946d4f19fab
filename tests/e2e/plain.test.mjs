// The plain-HTML page (/plain.html): a form guarded by guard.attach(form),
// no framework. Clicks, a burst of submits and a held Enter make one org;
// the buttons and aria-busy follow the guard; detaching restores the
// browser's own submission.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, screenshot } from "./harness.mjs";
import { answered, noPageErrors, posts, useDemo } from "./demo.mjs";

const demo = useDemo();

async function openPlain() {
  const page = await demo.tabs.open("plain.html");
  await page.waitForFunction(() => window.guard);
  // Count the events the form dispatches.
  await page.evaluate(() => {
    window.events = [];
    const form = document.querySelector("#org");
    for (const type of ["submitguard:success", "submitguard:error"]) {
      form.addEventListener(type, (e) => window.events.push([type, e.detail.response?.status ?? e.detail.error?.code]));
    }
  });
  return page;
}

const button = (page) => page.getByRole("button", { name: "Create organization" });
const name = (page) => page.getByLabel("Name");

const GESTURES = {
  "10 rapid clicks": (page) => Promise.all(Array.from({ length: 10 }, () => button(page).click({ force: true }))),
  // Ten submits in one task: the button is disabled after the first, so
  // `requestSubmit` (which ignores that) leaves only the guard to dedupe.
  "10 submits in one task": (page) =>
    page.evaluate(() => {
      const form = document.querySelector("#org");
      for (let i = 0; i < 10; i += 1) form.requestSubmit();
    }),
  "Enter held in the name field": async (page) => {
    await name(page).focus();
    for (let i = 0; i < 10; i += 1) await page.keyboard.down("Enter");
    await page.keyboard.up("Enter");
  },
};

for (const [gesture, act] of Object.entries(GESTURES)) {
  test(`attach: ${gesture} make exactly 1 org`, async () => {
    const page = await openPlain();
    await name(page).fill("Plain");
    await act(page);
    // While the (slow) request is in flight the form is busy and its button disabled.
    await eventually(() => button(page).isDisabled());
    assert.equal(await page.locator("#org").getAttribute("aria-busy"), "true");
    await page.getByRole("status").filter({ hasText: "Created Plain (plain)." }).waitFor();
    const [post] = await answered(demo.server, "/api/orgs", 1);
    assert.ok(post.key, "the request carried an Idempotency-Key");
    assert.equal((await demo.server.json("/api/orgs")).length, 1);
    assert.equal((await demo.server.json("/api/memberships")).length, 1);
    assert.deepEqual(await page.evaluate(() => window.events), [["submitguard:success", 201]]);
    // Settled: the button and aria-busy are as they were.
    assert.equal(await button(page).isEnabled(), true);
    assert.equal(await page.locator("#org").getAttribute("aria-busy"), null);
    noPageErrors(page);
    if (gesture === "10 rapid clicks") await screenshot(page, "plain");
  });
}

test("attach: a failure is an error event, and the resubmit keeps the key", async () => {
  const page = await openPlain();
  let failed = false;
  await page.route("**/api/orgs", async (route) => {
    if (route.request().method() !== "POST" || failed) return route.continue();
    failed = true;
    await route.continue({ headers: { ...route.request().headers(), "x-fault": "status=400" } });
  });
  await name(page).fill("Retry");
  await button(page).click();
  await page.getByRole("status").filter({ hasText: "Failed: HTTP" }).waitFor();
  assert.equal(await button(page).isEnabled(), true);
  await button(page).click();
  await page.getByRole("status").filter({ hasText: "Created Retry (retry)." }).waitFor();
  const keys = (await posts(demo.server, "/api/orgs")).map((r) => r.key);
  assert.equal(keys.length, 2);
  assert.equal(keys[1], keys[0], "the resubmit after a failure reused the key");
  assert.deepEqual(
    (await page.evaluate(() => window.events)).map(([type]) => type),
    ["submitguard:error", "submitguard:success"],
  );
});

test("detach: the browser submits the form natively again", async () => {
  const page = await openPlain();
  await page.getByLabel("Guard attached").uncheck();
  await name(page).fill("Native");
  await Promise.all([page.waitForURL("**/api/orgs"), button(page).click()]);
  // The browser navigated to the endpoint's JSON answer: a native POST,
  // URL-encoded, without a key.
  assert.match(await page.locator("body").innerText(), /"name":\s*"Native"/);
  const [post] = await posts(demo.server, "/api/orgs");
  assert.equal(post.key, null);
  assert.equal((await demo.server.json("/api/orgs")).length, 1);
});

// Create organization (field reports 000 and 001): hammering the button or
// holding Enter makes one org and one membership with the guard, several
// without it; a lost response, a 503 and a 409 in progress are retried with
// the same key into one org; editing after a validation error gets a new key.
// The server keeps its data in a real SQLite file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, screenshot } from "./harness.mjs";
import { UUID_V4, answered, idle, noPageErrors, posts, sqliteStore, useDemo } from "./demo.mjs";

const demo = useDemo(sqliteStore());

const form = (page) => page.getByRole("form", { name: "Create organization" });
const submitButton = (page) => form(page).getByRole("button");
const nameField = (page) => page.getByLabel("Organization name");

/** Ways a person sends one form several times, each while the first request is in flight. */
const GESTURES = {
  // Real mouse clicks at the button, not waiting for each other: once the
  // guard is pending the button is disabled and the later clicks do nothing.
  "10 rapid clicks": (page) => Promise.all(Array.from({ length: 10 }, () => submitButton(page).click({ force: true }))),
  // Ten clicks in one task, before React can re-render the button disabled:
  // every one submits the form, so only the guard's synchronous lock dedupes.
  "10 clicks in one task": (page) =>
    submitButton(page).evaluate((button) => {
      for (let i = 0; i < 10; i += 1) button.click();
    }),
  // Enter held down in the name field: a keydown with `repeat` per auto-repeat,
  // each an implicit submission while the submit button is enabled.
  "Enter held in the name field": async (page) => {
    await nameField(page).focus();
    for (let i = 0; i < 10; i += 1) await page.keyboard.down("Enter");
    await page.keyboard.up("Enter");
  },
};

async function serverState() {
  return { orgs: await demo.server.json("/api/orgs"), memberships: await demo.server.json("/api/memberships") };
}

const SHOTS = { "10 rapid clicks": "", "10 clicks in one task": "-burst", "Enter held in the name field": "-enter" };

for (const [name, gesture] of Object.entries(GESTURES)) {
  test(`${name} with the guard on: exactly 1 org and 1 membership`, async () => {
    const page = await demo.tabs.open("#/orgs");
    await nameField(page).fill("Acme");
    await gesture(page);
    await page.getByTestId("success").filter({ hasText: "Created “Acme” (acme)." }).waitFor();
    const [request] = await answered(demo.server, "/api/orgs", 1);
    assert.match(request.key, UUID_V4);
    assert.equal(request.status, 201);
    const { orgs, memberships } = await serverState();
    assert.equal(orgs.length, 1);
    assert.equal(memberships.length, 1);
    assert.equal(memberships[0].orgId, orgs[0].id);
    await eventually(async () => (await page.getByTestId("org-count").textContent()) === "1 created");
    assert.equal(await page.getByTestId("state").textContent(), "succeeded");
    await screenshot(page, `orgs${SHOTS[name]}`);
    noPageErrors(page);
  });

  test(`${name} with the guard off: duplicate orgs (the bug the guard fixes)`, async () => {
    const page = await demo.tabs.open("#/orgs?guard=off");
    await nameField(page).fill("Acme");
    await gesture(page);
    await eventually(async () => (await page.getByTestId("in-flight").textContent()) === "0", 10_000);
    const sent = await posts(demo.server, "/api/orgs");
    assert.ok(sent.every((r) => r.key === null && r.status === 201), JSON.stringify(sent));
    const { orgs, memberships } = await serverState();
    assert.ok(orgs.length > 1, `expected duplicates without the guard, got ${orgs.length} org(s)`);
    assert.equal(orgs.length, sent.length, "every request made an org");
    assert.equal(memberships.length, orgs.length);
    assert.deepEqual(orgs.map((o) => o.slug).sort(), ["acme", ...orgs.slice(1).map((_, i) => `acme-${i + 1}`)].sort());
    await eventually(async () => (await page.getByTestId("org-count").textContent()) === `${orgs.length} created`);
    await screenshot(page, `orgs-guard-off${SHOTS[name]}`);
    noPageErrors(page);
  });
}

// The lost response: the server commits, then sends a response head no
// client may accept (`garble-after-commit`), so fetch rejects and Chromium
// does not resend (it does resend after a silent close, `drop-after-commit`,
// which is why that fault cannot test the guard). The second request is the
// guard's own retry, with the same key: it gets the stored response.
test("a lost response is retried by the guard with the same key and replayed: attempts 2, 1 org, success shown", async () => {
  const page = await demo.tabs.open("#/orgs?simulate=lost");
  await nameField(page).fill("Lost Inc");
  await submitButton(page).click();
  await page.getByTestId("success").filter({ hasText: "Created “Lost Inc”" }).waitFor();
  await page.getByText("replayed by the server").waitFor();
  const sent = await posts(demo.server, "/api/orgs");
  assert.equal(sent.length, 2, JSON.stringify(sent));
  assert.equal(sent[0].fault, "garble-after-commit; times=1");
  assert.equal(sent[0].status, null, "the first attempt got no response at all");
  assert.equal(sent[1].key, sent[0].key, "the second carries the same key");
  assert.equal(sent[1].status, 201);
  assert.equal(await page.getByTestId("attempts").textContent(), "2", "the guard made the second attempt");
  const { orgs, memberships } = await serverState();
  assert.equal(orgs.length, 1);
  assert.equal(memberships.length, 1);
  assert.equal(await page.getByTestId("state").textContent(), "succeeded");
  await eventually(async () => (await page.getByTestId("org-count").textContent()) === "1 created");
  await screenshot(page, "orgs-lost-response");
  noPageErrors(page);
});

test("a lost response with the guard off: an error, and the Retry makes a second org", async () => {
  const page = await demo.tabs.open("#/orgs?guard=off&simulate=lost");
  await nameField(page).fill("Lost Inc");
  await submitButton(page).click();
  const alert = page.getByRole("alert");
  await alert.filter({ hasText: "NETWORK" }).waitFor();
  const lost = await posts(demo.server, "/api/orgs");
  assert.equal(lost.length, 1, `the browser did not resend: ${JSON.stringify(lost)}`);
  assert.deepEqual(lost[0], { ...lost[0], key: null, status: null });
  await alert.getByRole("button", { name: /Retry/ }).click();
  await page.getByTestId("success").waitFor();
  const sent = await posts(demo.server, "/api/orgs");
  assert.equal(sent.length, 2);
  assert.deepEqual(sent.at(-1), { ...sent.at(-1), key: null, fault: null, status: 201 });
  const { orgs } = await serverState();
  assert.equal(orgs.length, 2, "the lost one and the retry: duplicates without the guard");
  await screenshot(page, "orgs-guard-off-lost-response");
  noPageErrors(page);
});

test("a 503 then a success: the same key twice, 1 org", async () => {
  const page = await demo.tabs.open("#/orgs?simulate=503");
  await nameField(page).fill("Busy Day");
  await submitButton(page).click();
  await page.getByTestId("success").filter({ hasText: "Created “Busy Day”" }).waitFor();
  const sent = await answered(demo.server, "/api/orgs", 2);
  assert.deepEqual(
    sent.map((r) => r.status),
    [503, 201],
  );
  assert.equal(sent[1].key, sent[0].key);
  assert.equal(await page.getByTestId("attempts").textContent(), "2");
  const { orgs, memberships } = await serverState();
  assert.equal(orgs.length, 1);
  assert.equal(memberships.length, 1);
  await screenshot(page, "orgs-503");
  noPageErrors(page);
});

test("a 409 (the same key still in progress) then a success: the replay, 1 org", async () => {
  const page = await demo.tabs.open("#/orgs?simulate=none");
  await nameField(page).fill("Twice");
  const key = await page.getByTestId("key").textContent();
  // Another request with this key and this body is still running (say, the
  // first attempt of a submission whose response is slow).
  const held = fetch(`${demo.server.url}/api/orgs`, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key, "x-fault": "delay=1500" },
    body: JSON.stringify({ name: "Twice" }),
  });
  await eventually(async () => (await posts(demo.server, "/api/orgs")).length === 1);
  await submitButton(page).click();
  await page.getByTestId("success").filter({ hasText: "Created “Twice”" }).waitFor({ timeout: 10_000 });
  assert.equal((await held).status, 201);
  const mine = (await posts(demo.server, "/api/orgs")).filter((r) => r.fault === null);
  assert.ok(mine.length >= 2, JSON.stringify(mine));
  assert.ok(mine.every((r) => r.key === key));
  assert.equal(mine[0].status, 409, "the first attempt found the key in progress");
  assert.equal(mine.at(-1).status, 201, "a retry got the stored response");
  await page.getByText("replayed by the server").waitFor();
  const { orgs } = await serverState();
  assert.equal(orgs.length, 1);
  noPageErrors(page);
});

test("editing after a validation error sends a new key; the org is created once", async () => {
  const page = await demo.tabs.open("#/orgs?simulate=none");
  await nameField(page).fill("   ");
  const first = await page.getByTestId("key").textContent();
  await submitButton(page).click();
  await page.getByRole("alert").filter({ hasText: "name is required" }).waitFor();
  assert.equal(await page.getByTestId("state").textContent(), "failed");
  assert.equal(await page.getByTestId("key").textContent(), first, "a failure keeps the key");
  await nameField(page).fill("Acme");
  await submitButton(page).click();
  await page.getByTestId("success").filter({ hasText: "Created “Acme”" }).waitFor();
  const sent = await answered(demo.server, "/api/orgs", 2);
  assert.deepEqual(
    sent.map((r) => r.status),
    [400, 201],
  );
  assert.equal(sent[0].key, first);
  assert.notEqual(sent[1].key, first, "the edited form went out with a new key");
  assert.match(sent[1].key, UUID_V4);
  const { orgs } = await serverState();
  assert.deepEqual(
    orgs.map((o) => o.name),
    ["Acme"],
  );
  await screenshot(page, "orgs-after-validation-error");
  noPageErrors(page);
});

test("the home page links to the four pages", async () => {
  const page = await demo.tabs.open("");
  for (const [name, hash] of [
    ["Create organization", "#/orgs"],
    ["Claim invite", "#/invite"],
    ["Table QR", "#/qr"],
    ["Pay order", "#/pay"],
  ]) {
    assert.equal(await page.getByRole("main").getByRole("link", { name }).getAttribute("href"), hash);
  }
  await screenshot(page, "home");
  noPageErrors(page);
});

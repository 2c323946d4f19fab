// useSubmitGuard (submit-guard/react) in a React 19 development build under
// StrictMode: one guard per component instance, re-renders on change, options
// passed through, freed on unmount, and safe in <Activity>, whose hiding runs
// the same cleanup as an unmount. The page (pages/hook/) is built here with
// the demo's Vite config.
import { join } from "node:path";
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { ROOT, eventually, newPage, scratchDir, screenshot, servePages, viteBuild } from "./harness.mjs";
import { Tabs, guards, noPageErrors, posts } from "./demo.mjs";

let server, browser, tabs;

servePages(
  () => {
    const out = scratchDir("hook");
    viteBuild(join(ROOT, "tests/e2e/pages/hook"), "--outDir", out);
    return out;
  },
  (s, b) => ([server, browser, tabs] = [s, b, new Tabs(b, s)]),
);
afterEach(() => tabs.closeAll());

const text = (page, id) => page.locator(`#${id}`).textContent();

async function open(query = "") {
  const page = await tabs.open(query);
  await page.locator("#state").waitFor();
  return page;
}

/** Lets the hook's deferred free (a 0 ms timer) run. */
const tick = (page) => page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 20)));

test("one guard per component under StrictMode; the component re-renders as it changes", async () => {
  const page = await open();
  assert.deepEqual(await guards(page), { created: 1, freed: 0 }, "the double render and double mount keep one guard");
  const key = await text(page, "key");
  await page.evaluate(() => (window.fault = "delay=500"));
  await page.getByRole("button", { name: "Submit" }).click();
  await eventually(async () => (await text(page, "state")) === "pending");
  await eventually(async () => (await text(page, "state")) === "succeeded");
  assert.notEqual(await text(page, "key"), key, "the new key after a success is rendered");
  assert.equal(await text(page, "attempts"), "1");
  const [request] = await posts(server, "/api/qr/sessions");
  assert.equal(request.key, key);
  noPageErrors(page);
});

test("options pass through to SubmitGuard", async () => {
  const page = await open("?retries=0");
  await page.evaluate(() => (window.fault = "status=503"));
  await page.getByRole("button", { name: "Submit" }).click();
  await eventually(async () => (await text(page, "state")) === "failed");
  assert.equal(await text(page, "attempts"), "1", "retries: 0, so no retry");
  assert.equal((await posts(server, "/api/qr/sessions")).length, 1);
  noPageErrors(page);
});

test("unmounting frees the guard", async () => {
  const page = await open();
  await page.evaluate(() => window.app.unmount());
  await page.locator("#unmounted").waitFor();
  await eventually(async () => (await guards(page)).freed === 1);
  assert.deepEqual(await guards(page), { created: 1, freed: 1 });
  noPageErrors(page);
});

test("<Activity> hidden and shown again: an idle guard is replaced, not used freed", async () => {
  const page = await open();
  await page.evaluate(() => window.app.hide());
  await tick(page);
  await page.evaluate(() => window.app.rerender());
  await page.evaluate(() => window.app.show());
  await eventually(async () => (await text(page, "renders")) === "1");
  assert.deepEqual(await guards(page), { created: 2, freed: 1 });
  await page.getByRole("button", { name: "Submit" }).click();
  await eventually(async () => (await text(page, "state")) === "succeeded");
  assert.equal((await posts(server, "/api/qr/sessions")).length, 1);
  noPageErrors(page);
});

test("<Activity> hidden while pending: the same guard and key when shown, one request", async () => {
  const page = await open();
  const key = await text(page, "key");
  await page.evaluate(() => (window.fault = "delay=800"));
  await page.getByRole("button", { name: "Submit" }).click();
  await eventually(async () => (await text(page, "state")) === "pending");
  await page.evaluate(() => window.app.hide());
  await tick(page);
  await page.evaluate(() => window.app.rerender());
  await page.evaluate(() => window.app.show());
  assert.equal(await text(page, "key"), key, "the pending key survived");
  await page.getByRole("button", { name: "Submit" }).click();
  await eventually(async () => (await text(page, "state")) === "succeeded");
  assert.deepEqual(await guards(page), { created: 1, freed: 0 });
  const sent = await posts(server, "/api/qr/sessions");
  assert.deepEqual(
    sent.map((r) => r.key),
    [key],
    "the submit after showing it again shared the pending one",
  );
  await screenshot(page, "hook");
  noPageErrors(page);
});

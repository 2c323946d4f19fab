// Server rendering of a component that shows its guard's key
// (pages/ssr/app.jsx): rendered in Node with react-dom/server, hydrated in
// Chromium under StrictMode, with React's development build. The key comes
// from useSubmitGuardState, null on the server and during hydration: no
// mismatch, then the client guard's key, which a submit sends. The control
// renders `guard.key` itself and must be reported as a mismatch. Last, the
// hook's TypeError for what is not a guard.
import { readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { ROOT, eventually, newPage, scratchDir, servePages, viteBuild } from "./harness.mjs";
import { Tabs, UUID_V4, noPageErrors, posts } from "./demo.mjs";

const PAGE = join(ROOT, "tests/e2e/pages/ssr");
const PLACEHOLDER = '<div id="root"><!--app--></div>';

let server, browser, tabs;
/** The server-rendered HTML of each page, by file name. */
const rendered = {};

servePages(
  async () => {
    const out = scratchDir("ssr");
    viteBuild(PAGE, "--outDir", join(out, "client"));
    viteBuild("--ssr", join(PAGE, "server.jsx"), "--outDir", join(out, "server"));
    // The server bundle imports React from the workspace, as an app's would.
    symlinkSync(join(ROOT, "node_modules"), join(out, "server/node_modules"), "dir");
    const { render } = await import(pathToFileURL(join(out, "server/server.js")).href);
    const template = readFileSync(join(out, "client/index.html"), "utf8");
    assert.ok(template.includes(PLACEHOLDER), `the built page lacks ${PLACEHOLDER}`);
    const pages = { "index.html": {}, "direct.html": { direct: true } };
    for (const [file, props] of Object.entries(pages)) {
      rendered[file] = render(props);
      const root = `<div id="root" data-props='${JSON.stringify(props)}'>${rendered[file]}</div>`;
      writeFileSync(join(out, "client", file), template.replace(PLACEHOLDER, root));
    }
    writeFileSync(join(out, "client/client.html"), template.replace(PLACEHOLDER, '<div id="root"></div>'));
    return join(out, "client");
  },
  (s, b) => ([server, browser, tabs] = [s, b, new Tabs(b, s)]),
);
afterEach(() => tabs.closeAll());

const text = (page, id) => page.locator(`#${id}`).textContent();

/** A tab at `path` whose console errors (React's hydration warnings among them) are kept in `page.consoleErrors`. */
async function open(path) {
  const page = await newPage(await tabs.context());
  page.consoleErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error") page.consoleErrors.push(message.text());
  });
  await page.goto(`${server.url}/${path}`);
  return page;
}

test("a server-rendered key hydrates without a mismatch, then shows the client guard's key, which a submit sends", async () => {
  const page = await open("");
  const key = await eventually(async () => {
    const shown = await text(page, "key");
    return UUID_V4.test(shown) && shown;
  });
  assert.deepEqual(await page.evaluate(() => window.recoverable), [], "React recovered from no error (no hydration mismatch)");
  const keys = await page.evaluate(() => window.renderedKeys);
  assert.equal(keys[0], null, "hydration rendered the server's null key");
  assert.equal(keys.at(-1), key, "then React rendered the client guard's key");
  assert.deepEqual(page.consoleErrors, []);
  assert.match(rendered["index.html"], /<span id="state">idle<\/span>/);
  assert.match(rendered["index.html"], /<span id="key"><\/span>/, "on the server the key is null: nothing rendered");
  await page.getByRole("button", { name: "Submit" }).click();
  await eventually(async () => (await text(page, "state")) === "succeeded");
  const sent = await posts(server, "/api/qr/sessions");
  assert.deepEqual(
    sent.map((r) => r.key),
    [key],
    "the submit sent the key shown after hydration",
  );
  assert.notEqual(await text(page, "key"), key, "the new key after the success is rendered");
  noPageErrors(page);
});

test("control: rendering guard.key itself on the server is a hydration mismatch", async () => {
  const [, serverKey] = /<span id="key">([^<]*)<\/span>/.exec(rendered["direct.html"]);
  assert.match(serverKey, UUID_V4, "the server's guard has a key of its own");
  const page = await open("direct.html");
  const errors = await eventually(() => page.evaluate(() => window.recoverable.length && window.recoverable));
  assert.match(errors.join("\n"), /[Hh]ydrat/, "React reported the mismatch");
  assert.notEqual(await text(page, "key"), serverKey, "the client's guard has another key");
});

test("rendered on the client only, the key is there from the first render", async () => {
  const page = await open("client.html");
  await page.locator("#state").waitFor();
  const key = await text(page, "key");
  assert.match(key, UUID_V4);
  const keys = await page.evaluate(() => window.renderedKeys);
  assert.ok(keys.length > 0 && keys.every((k) => k === key), `every render had the key: ${JSON.stringify(keys)}`);
  assert.deepEqual(page.consoleErrors, []);
  noPageErrors(page);
});

test("useSubmitGuardState refuses what is not a guard with a TypeError that says so", async () => {
  const { useSubmitGuardState } = await import(pathToFileURL(join(ROOT, "pkg/react.js")).href);
  for (const [value, what] of [
    [undefined, /not undefined$/],
    [null, /not null$/],
    [{ name: "org" }, /not an object without subscribe\(\) \(name\)$/],
  ]) {
    assert.throws(() => useSubmitGuardState(value), (error) => error instanceof TypeError && /^useSubmitGuardState\(guard\): guard must be a SubmitGuard/.test(error.message) && what.test(error.message));
  }
});

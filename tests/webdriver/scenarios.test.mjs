// The key end-to-end scenarios in Firefox ESR and WebKitGTK, as the Chromium
// suite (tests/e2e) runs them: the demo's Create organization page and plain
// HTML form, and the one-form test page (tests/e2e/pages/guard.html), each
// against a reference server in test mode on loopback. The servers and the
// server-side checks are tests/e2e's own helpers.
//
// An engine that cannot do a scenario under automation skips it, for that
// engine only, and says why.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { By, Key } from "selenium-webdriver";
import { ROOT, eventually, startServer, staticDir } from "../e2e/harness.mjs";
import { UUID_V4, answered, posts, startDemo } from "../e2e/demo.mjs";
import { ENGINES, selectedEngines } from "./browsers.mjs";

const ORG_FORM = 'form[aria-label="Create organization"]';

for (const engine of selectedEngines()) {
  describe(engine, () => {
    let driver, demo, pages;

    before(async () => {
      const missing = ENGINES[engine].missing();
      if (missing) throw new Error(`${engine}: ${missing} is missing (scripts/setup.sh installs it)`);
      demo = await startDemo("memory");
      const dir = staticDir({
        "guard.html": join(ROOT, "tests/e2e/pages/guard.html"),
        "other.html": join(ROOT, "tests/e2e/pages/other.html"),
        pkg: join(ROOT, "pkg"),
      });
      pages = await startServer(["--store", "memory", "--test-mode", "--static", dir]);
      driver = await ENGINES[engine].start();
    });

    after(async () => {
      await driver?.quit();
      await demo?.stop();
      await pages?.stop();
    });

    beforeEach(async () => {
      await demo.reset();
      await pages.reset();
    });

    /** Loads `url` in the current window and starts collecting uncaught errors. */
    async function open(url, ready = "true") {
      await driver.get(url);
      await until(ready);
      await driver.executeScript(`
        window.__errors = [];
        addEventListener("error", (e) => window.__errors.push(String(e.message)));
        addEventListener("unhandledrejection", (e) => window.__errors.push(String(e.reason)));`);
    }

    /** Waits until the expression `js` is truthy in the current window; returns its value. */
    function until(js, ms = 10_000) {
      return driver.wait(() => driver.executeScript(`return ${js};`), ms, `not true within ${ms} ms in ${engine}: ${js}`);
    }

    const run = (js) => driver.executeScript(`return ${js};`);

    /** Nothing uncaught in the current window since `open`. */
    async function noPageErrors() {
      assert.deepEqual(await run("window.__errors"), []);
    }

    const orgs = () => demo.json("/api/orgs");

    /** Replaces the (prefilled) organization name by typing, as a person does. */
    async function typeName(name) {
      const input = await driver.findElement(By.css(`${ORG_FORM} input[name=name]`));
      await input.sendKeys(Key.chord(Key.CONTROL, "a"), Key.BACK_SPACE);
      await input.sendKeys(name);
      await until(`document.querySelector('${ORG_FORM} input[name=name]').value === ${JSON.stringify(name)}`);
    }

    test("10 clicks in one task with the guard on: 1 request with a key, 1 org", async () => {
      await open(`${demo.url}/#/orgs`, `document.querySelector('${ORG_FORM}')`);
      await typeName("Acme");
      await run(`(() => { const b = document.querySelector('${ORG_FORM} button'); for (let i = 0; i < 10; i += 1) b.click(); })()`);
      await until(`document.querySelector('[data-testid=success]')?.textContent.includes('Created “Acme” (acme).')`);
      const [request] = await answered(demo, "/api/orgs", 1);
      assert.match(request.key, UUID_V4);
      assert.equal(request.status, 201);
      assert.equal((await orgs()).length, 1);
      assert.equal((await demo.json("/api/memberships")).length, 1);
      await noPageErrors();
    });

    test("10 clicks in one task with the guard off: duplicate orgs (the bug the guard fixes)", async () => {
      await open(`${demo.url}/#/orgs?guard=off`, `document.querySelector('${ORG_FORM}')`);
      await typeName("Acme");
      await run(`(() => { const b = document.querySelector('${ORG_FORM} button'); for (let i = 0; i < 10; i += 1) b.click(); })()`);
      await eventually(async () => (await posts(demo, "/api/orgs")).length > 1 && (await run("document.querySelector('[data-testid=in-flight]')?.textContent")) === "0", 10_000);
      const sent = await posts(demo, "/api/orgs");
      assert.ok(sent.every((r) => r.key === null && r.status === 201), JSON.stringify(sent));
      assert.equal((await orgs()).length, sent.length, "every request made an org");
      await noPageErrors();
    });

    test("attach (plain HTML form): 10 submits in one task make 1 org", async () => {
      await open(`${demo.url}/plain.html`, "window.guard");
      await driver.findElement(By.css("#org input[name=name]")).sendKeys("Plain");
      await run(`(() => { const f = document.querySelector('#org'); for (let i = 0; i < 10; i += 1) f.requestSubmit(); })()`);
      assert.equal(await run("document.querySelector('#org').getAttribute('aria-busy')"), "true");
      await until(`document.querySelector('#outcome').textContent.includes('Created Plain (plain).')`);
      const [post] = await answered(demo, "/api/orgs", 1);
      assert.match(post.key, UUID_V4);
      assert.equal((await orgs()).length, 1);
      assert.equal(await run("document.querySelector('#org button').disabled"), false);
      await noPageErrors();
    });

    test("crossTab: two tabs submitting at once send one request and settle with the same result", async () => {
      const url = `${pages.url}/guard.html?name=order&crossTab=1`;
      const first = await driver.getWindowHandle();
      await open(url, "window.ready");
      await driver.switchTo().newWindow("tab");
      const second = await driver.getWindowHandle();
      try {
        await open(url, "window.ready");
        // WebDriver talks to one tab at a time: each tab starts its submission
        // and the results are collected after. The first is slow (3 s), so the second
        // really finds it in flight.
        const start = `(window.out = null, submit("cross", { "x-fault": "delay=3000" }).then((r) => (window.out = r)), true)`;
        await driver.switchTo().window(first);
        await run(start);
        await eventually(async () => (await pages.requests("t=cross")).length === 1);
        await driver.switchTo().window(second);
        await run(start);
        const b = await until("window.out");
        await driver.switchTo().window(first);
        const a = await until("window.out");
        assert.equal(a.ok, true, JSON.stringify(a));
        assert.equal(b.ok, true, JSON.stringify(b));
        assert.equal(a.status, 201);
        assert.equal(b.status, 201);
        assert.deepEqual(a.body, b.body, "both tabs settle with the one response");
        assert.equal((await pages.requests("t=cross")).length, 1);
        assert.equal((await pages.json("/api/qr/sessions")).length, 1);
        await noPageErrors();
      } finally {
        await driver.switchTo().window(second);
        await driver.close();
        await driver.switchTo().window(first);
      }
    });

    test("persist: a key left pending survives a reload and is sent again: one effect", async () => {
      const url = `${pages.url}/guard.html?name=checkout&persist=1`;
      await open(url, "window.ready");
      const key = await run("guard.key");
      await driver.executeAsyncScript(`const done = arguments[0]; submit("reload", { "x-fault": "status=400" }).then(done);`);
      assert.equal(await run("guard.state"), "failed");
      await driver.navigate().refresh();
      await until("window.ready");
      assert.equal(await run("guard.key"), key, "the pending key survived the reload");
      const again = await driver.executeAsyncScript(`const done = arguments[0]; submit("reload").then(done);`);
      assert.equal(again.ok, true, JSON.stringify(again));
      const keys = (await pages.requests("t=reload")).map((r) => r.key);
      assert.ok(keys.length >= 2 && keys.every((k) => k === key), JSON.stringify(keys));
      assert.equal((await pages.json("/api/qr/sessions")).length, 1);
      // After the success the stored key is gone: a reload starts fresh.
      await driver.navigate().refresh();
      await until("window.ready");
      assert.notEqual(await run("guard.key"), key);
    });

    test("back/forward cache: a submission left pending is released; the button works again", async (t) => {
      await open(`${pages.url}/guard.html?name=bfcache`, "window.ready");
      const key = await run("guard.key");
      await run(`(window.never = guard.run(() => new Promise(() => {})).catch((e) => e.code), true)`);
      assert.equal(await run("document.querySelector('button').disabled"), true);
      await driver.get(`${pages.url}/other.html`);
      await driver.navigate().back();
      await until("window.restored !== undefined");
      if (!(await run("window.restored"))) {
        const reason = `${engine} under WebDriver reloaded the page instead of restoring it from the back/forward cache`;
        console.log(`# skipped in ${engine}: ${reason}`);
        t.skip(reason);
        return;
      }
      await until("!document.querySelector('button').disabled");
      assert.equal(await until("window.never"), "ABORTED");
      assert.equal(await run("guard.state"), "failed");
      assert.equal(await run("guard.key"), key, "the key is kept for the resubmit");
      const result = await driver.executeAsyncScript(`const done = arguments[0]; submit("bfcache").then(done);`);
      assert.equal(result.ok, true, JSON.stringify(result));
      assert.equal((await pages.requests("t=bfcache"))[0].key, key);
    });
  });
}

// Client faults of issue 12, against the package as a page imports it:
// attach (12.1), and hostile values over every option and argument (12.7).
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, newPage, servePages, staticDir } from "./harness.mjs";

let server, browser, page;

servePages(
  () =>
    staticDir({
      "index.html": join(ROOT, "tests/e2e/pages/web-build.html"),
      pkg: join(ROOT, "pkg"),
    }),
  async (s, b) => {
    [server, browser] = [s, b];
    page = await newPage(await browser.newContext());
    page.console = [];
    page.on("console", (message) => page.console.push(message.text()));
    await page.goto(server.url + "/");
    await page.waitForFunction(() => window.SubmitGuard);
  },
);

/** A form posting a QR session for `tag`, with two submit buttons (one already disabled by the page). */
async function makeForm(tag) {
  await page.evaluate((tag) => {
    document.querySelector("form")?.remove();
    const form = document.createElement("form");
    form.method = "post";
    form.action = `/api/qr/sessions?t=${tag}`;
    form.innerHTML = `<input name="table" value="${tag}"><button id="go">Go</button><button id="off" disabled>Off</button>`;
    document.body.append(form);
    window.outcomes = [];
    form.addEventListener("submitguard:success", (e) => window.outcomes.push(e.detail.response.status));
    form.addEventListener("submitguard:error", (e) => window.outcomes.push(e.detail.error.code));
  }, tag);
}

const buttons = () =>
  page.evaluate(() => ({
    go: document.querySelector("#go").disabled,
    off: document.querySelector("#off").disabled,
    busy: document.querySelector("form").getAttribute("aria-busy"),
  }));

const settled = (n) => page.waitForFunction((n) => window.outcomes.length >= n, n);

test("attach twice with one guard: one request, and the buttons end as the page left them", async () => {
  await makeForm("twice");
  await page.evaluate(() => {
    const form = document.querySelector("form");
    const guard = new SubmitGuard();
    const a = guard.attach(form);
    const b = guard.attach(form);
    window.detach = [a, b];
    form.querySelector("#go").click();
    form.querySelector("#go").click();
  });
  await settled(1);
  assert.deepEqual(await page.evaluate(() => window.outcomes), [201]);
  assert.deepEqual(await buttons(), { go: false, off: true, busy: null });
  await page.evaluate(() => window.detach.forEach((d) => (d(), d())));
  assert.deepEqual(await buttons(), { go: false, off: true, busy: null });
  assert.equal((await server.requests("t=twice")).length, 1);
});

test("a second guard on a guarded form is refused with ATTACHED; the first keeps working", async () => {
  await makeForm("second");
  const refused = await page.evaluate(() => {
    const form = document.querySelector("form");
    new SubmitGuard().attach(form);
    try {
      new SubmitGuard().attach(form);
      return null;
    } catch (error) {
      return { code: error.code, name: error.name, message: error.message };
    }
  });
  assert.equal(refused?.code, "ATTACHED");
  assert.equal(refused.name, "SubmitGuardError");
  assert.match(refused.message, /already attached to another guard/);
  await page.click("#go");
  await settled(1);
  assert.deepEqual(await page.evaluate(() => window.outcomes), [201]);
  assert.equal((await server.requests("t=second")).length, 1);
  assert.deepEqual(await buttons(), { go: false, off: true, busy: null });
});

test("a page's own disable-on-submit listener, registered first, does not leave the button disabled", async () => {
  await makeForm("page-listener");
  await page.evaluate(() => {
    const form = document.querySelector("form");
    form.addEventListener("submit", () => {
      for (const b of form.querySelectorAll("button")) b.disabled = true;
    });
    new SubmitGuard().attach(form);
  });
  await page.click("#go");
  await settled(1);
  assert.deepEqual(await buttons(), { go: false, off: true, busy: null });
});

test("detach while pending restores at once, and the end of the submission changes nothing after", async () => {
  await makeForm("detach-pending");
  await page.evaluate(() => {
    const form = document.querySelector("form");
    const guard = new SubmitGuard();
    window.guard = guard;
    const detach = guard.attach(form, { headers: { "x-fault": "delay=300" } });
    form.querySelector("#go").click();
    window.during = { go: form.querySelector("#go").disabled, busy: form.getAttribute("aria-busy") };
    detach();
  });
  assert.deepEqual(await page.evaluate(() => window.during), { go: true, busy: "true" });
  assert.deepEqual(await buttons(), { go: false, off: true, busy: null });
  await page.waitForFunction(() => !window.guard.pending);
  assert.deepEqual(await buttons(), { go: false, off: true, busy: null });
});

test("hostile options: a clear error naming the option, no trap, and the next guard works", async () => {
  const results = await page.evaluate(() => {
    const huge = (n) => {
      const a = [];
      a.length = n;
      return a;
    };
    const cases = {
      "retryOn length 2**28": () => ({ retryOn: huge(2 ** 28) }),
      "retryOn length 2**32-1": () => ({ retryOn: huge(2 ** 32 - 1) }),
      "retryOn length 2**27": () => ({ retryOn: huge(2 ** 27) }),
      "retryOn sparse": () => ({ retryOn: [503, , 500] }),
      "retryOn holding a string": () => ({ retryOn: [503, "500"] }),
      "retryOn with a throwing index": () => ({ retryOn: new Proxy([503], { get: (t, k) => (k === "0" ? boom() : t[k]) }) }),
      "retryOn NaN": () => ({ retryOn: [NaN] }),
      "timeoutMs NaN": () => ({ timeoutMs: NaN }),
      "timeoutMs Infinity": () => ({ timeoutMs: Infinity }),
      "timeoutMs -Infinity": () => ({ timeoutMs: -Infinity }),
      "retries 2**53": () => ({ retries: 2 ** 53 }),
      "a throwing getter": () => ({ get retries() { return boom(); } }),
      "a Proxy whose ownKeys throws": () => new Proxy({}, { ownKeys: () => boom() }),
      "a bigint": () => ({ retries: 10n }),
      "a symbol": () => ({ headerName: Symbol("x") }),
      "an object for a number": () => ({ backoffMs: { valueOf: () => 5 } }),
      "a huge bad header name": () => ({ headerName: "a b".repeat(1_000_000) }),
      "an unknown option": () => ({ retryon: [503] }),
      "crossTab without name": () => ({ crossTab: true }),
      "an array": () => [1, 2],
      "an array for a number": () => ({ retries: [1] }),
      "a string": () => "fast",
    };
    const out = {};
    for (const [what, make] of Object.entries(cases)) {
      const started = performance.now();
      let error;
      try {
        new SubmitGuard(make());
      } catch (e) {
        error = e;
      }
      const next = new SubmitGuard();
      out[what] = {
        kind: error?.constructor?.name,
        message: String(error?.message).slice(0, 200),
        ms: performance.now() - started,
        next: /^[0-9a-f-]{36}$/.test(next.key) && next.state === "idle",
      };
    }
    function boom() {
      throw new Error("boom");
    }
    return out;
  });
  for (const [what, r] of Object.entries(results)) {
    assert.ok(r.kind === "TypeError" || r.kind === "RangeError", `${what}: ${JSON.stringify(r)}`);
    assert.ok(r.next, `${what}: the next guard is usable`);
    assert.ok(r.ms < 1000, `${what}: took ${r.ms} ms`);
  }
  for (const what of ["retryOn length 2**28", "retryOn length 2**32-1", "retryOn length 2**27"]) {
    assert.equal(results[what].kind, "TypeError", what);
    assert.match(results[what].message, /`retryOn` must be an array of at most 500 numbers/, what);
  }
  assert.match(results["retryOn sparse"].message, /`retryOn` must be an array of numbers, got an array holding undefined/);
  assert.match(results["a throwing getter"].message, /option `retries` could not be read/);
  assert.match(results["timeoutMs NaN"].message, /`timeoutMs` must be an integer from 0 to 2147483647, got NaN/);
  assert.match(results["a huge bad header name"].message, /`headerName` must be a non-empty HTTP token/);
  assert.match(results["an unknown option"].message, /did you mean `retryOn`\?/);
  assert.match(results["an array for a number"].message, /`retries` must be a number, got an array$/);
  assert.match(results["crossTab without name"].message, /`name` is required when `crossTab` is on/);
  assert.deepEqual(page.errors, []);
});

test("options are read as own properties: a polluted prototype changes nothing", async () => {
  await server.reset();
  const result = await page.evaluate(async () => {
    let rerouted = 0;
    Object.prototype.fetch = () => {
      rerouted++;
      return Promise.resolve(new Response("{}"));
    };
    Object.prototype.retries = "many";
    // Members the guard's own Request init leaves out must not come from the
    // prototype either (each attempt is `new Request(template, init)`).
    Object.prototype.method = "PUT";
    Object.prototype.body = "evil";
    try {
      const guard = new SubmitGuard({});
      const frozen = new SubmitGuard(Object.freeze({ retries: 0, timeoutMs: -0 }));
      const response = await guard.fetch("/api/qr/sessions?t=polluted", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ table: "polluted" }),
      });
      return { rerouted, status: response.status, frozen: frozen.state };
    } finally {
      delete Object.prototype.fetch;
      delete Object.prototype.retries;
      delete Object.prototype.method;
      delete Object.prototype.body;
    }
  });
  assert.deepEqual(result, { rerouted: 0, status: 201, frozen: "idle" });
  const sent = await server.requests("t=polluted");
  assert.equal(sent.length, 1);
  assert.equal(sent[0].method, "POST", "the polluted prototype's method was not used");
});

test("hostile arguments to fetch, run, subscribe and attach: clear errors, nothing locked", async () => {
  const results = await page.evaluate(async () => {
    const guard = new SubmitGuard();
    const key = guard.key;
    const out = {};
    const attempt = async (what, call) => {
      try {
        await call();
        out[what] = "no error";
      } catch (e) {
        out[what] = `${e.name}: ${e.message}`.slice(0, 120);
      }
    };
    await attempt("init with a throwing method getter", () => guard.fetch("/x", { get method() { throw new TypeError("bad method"); } }));
    await attempt("a Proxy init", () => guard.fetch("/x", new Proxy({}, { get: () => { throw new TypeError("trap"); } })));
    await attempt("a body of 2**28 holes", () => {
      const a = [];
      a.length = 2 ** 28;
      return guard.fetch("/api/qr/sessions?t=holes", { method: "POST", body: new Uint8Array(0), headers: a });
    });
    await attempt("an invalid URL", () => guard.fetch("http://[::1", { method: "POST" }));
    await attempt("run without a function", () => guard.run(5));
    await attempt("subscribe without a function", async () => guard.subscribe(null));
    await attempt("attach a div", async () => guard.attach(document.createElement("div")));
    await attempt("attach with a bad option", async () => guard.attach(document.createElement("form"), { header: {} }));
    return { out, pending: guard.pending, key, after: guard.key, state: guard.state };
  });
  for (const [what, message] of Object.entries(results.out)) {
    // TypeError from the guard, or the error fetch itself throws (a RangeError for a huge array).
    assert.match(message, /^(TypeError|RangeError)/, `${what}: ${message}`);
  }
  assert.equal(results.pending, false);
  assert.equal(results.after, results.key, "the key is untouched");
  assert.deepEqual(page.errors, []);
});

test("free() from a listener while fetch runs: no error, the submission settles, a new guard works", async () => {
  await server.reset();
  page.console = [];
  const result = await page.evaluate(async () => {
    const guard = new SubmitGuard();
    let freed = false;
    guard.subscribe(() => {
      if (!freed) {
        freed = true;
        guard.free();
      }
    });
    const response = await guard.fetch("/api/qr/sessions?t=free", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ table: "free" }),
    });
    let after;
    try {
      after = guard.key;
    } catch (e) {
      after = "freed";
    }
    const next = new SubmitGuard();
    return { status: response.status, after, next: next.state };
  });
  assert.deepEqual(result, { status: 201, after: "freed", next: "idle" });
  assert.equal((await server.requests("t=free")).length, 1);
  assert.deepEqual(page.console.filter((m) => m.includes("listener threw")), []);
  assert.deepEqual(page.errors, []);
});

test("synchronous compilation on the main thread takes a module 64 times the size of ours", async () => {
  // The package compiles its wasm with `new WebAssembly.Module` in the first
  // constructor. Chromium once refused that on the main thread above 4 KB;
  // check the headroom: a module of 64× the package's wasm compiles there.
  const { decode } = await import("../../scripts/embed.mjs");
  const ours = decode((await import("node:fs")).readFileSync(join(ROOT, "pkg/submit_guard.js"), "utf8")).length;
  assert.ok(ours > 1000, `the embedded wasm is ${ours} bytes`);
  const size = ours * 64;
  const compiled = await page.evaluate((size) => {
    const leb = (n) => {
      const out = [];
      do {
        let byte = n & 0x7f;
        n >>>= 7;
        if (n) byte |= 0x80;
        out.push(byte);
      } while (n);
      return out;
    };
    // A valid, empty module carrying one custom section of `size` bytes.
    const name = [1, 0x78];
    const body = new Uint8Array(size);
    const section = [0, ...leb(name.length + size), ...name];
    const bytes = new Uint8Array(8 + section.length + size);
    bytes.set([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]);
    bytes.set(section, 8);
    bytes.set(body, 8 + section.length);
    try {
      new WebAssembly.Module(bytes);
      return bytes.length;
    } catch (error) {
      return String(error);
    }
  }, size);
  assert.equal(typeof compiled, "number", String(compiled));
  assert.ok(compiled > ours * 64);
});

test("the same JSON with its keys reordered is the same payload: the key is kept (12.4)", async () => {
  await server.reset();
  const result = await page.evaluate(async () => {
    const guard = new SubmitGuard({ retries: 0 });
    const send = (body) =>
      guard
        .fetch("/api/qr/sessions?t=canonical", {
          method: "POST",
          headers: { "content-type": "application/json", "x-fault": "status=503" },
          body,
        })
        .catch((e) => e.code);
    const key = guard.key;
    const codes = [await send('{"table":"canonical","note":1}'), await send('{ "note": 1,\n "table": "canonical" }')];
    const kept = guard.key === key;
    codes.push(await send('{"table":"other"}'));
    return { codes, kept, replaced: guard.key !== key };
  });
  assert.deepEqual(result, { codes: ["HTTP", "HTTP", "HTTP"], kept: true, replaced: true });
  const keys = (await server.requests("t=canonical")).map((r) => r.key);
  assert.equal(keys.length, 3);
  assert.equal(keys[1], keys[0], "reordered keys and whitespace: the same key");
  assert.notEqual(keys[2], keys[0], "another payload: a new key");
});

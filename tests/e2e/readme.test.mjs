// The README's React examples, taken from README.md as written, built with
// Vite and run in headless Chromium against the reference server: a failed
// submission is shown by the form, never an uncaught error, and the form
// stays mounted (no error boundary on the page). A wrapper around the
// page's `fetch` adds the test server's `X-Fault` header (window.fault).
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import assert from "node:assert/strict";
import { ARTIFACTS, ROOT, eventually, newPage, servePages, viteBuild } from "./harness.mjs";
import { readmeExamples } from "../types/readme.mjs";

const examples = readmeExamples(readFileSync(join(ROOT, "README.md"), "utf8"));

/** The one README example that contains every one of `marks`. */
function example(...marks) {
  const found = examples.filter((e) => e.lang === "tsx" && marks.every((m) => e.code.includes(m)));
  assert.equal(found.length, 1, `README.md: expected one tsx example with ${marks.join(", ")}; found ${found.length}`);
  return found[0];
}

const EXAMPLES = {
  hook: example("useSubmitGuardState(guard)", "export function CreateOrg", "catch (error)"),
  action: example("useGuardedActionState", "export function CreateOrg"),
};

let server, browser, out;

servePages(
  () => {
    const src = join(ARTIFACTS, "readme-page");
    out = join(ARTIFACTS, "readme-page-dist");
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src, { recursive: true });
    const names = Object.keys(EXAMPLES);
    for (const name of names) writeFileSync(join(src, `${name}.tsx`), EXAMPLES[name].code);
    writeFileSync(
      join(src, "main.tsx"),
      `import { createRoot } from "react-dom/client";
  ${names.map((name) => `import { CreateOrg as Example_${name} } from "./${name}.tsx";`).join("\n")}
  const fetch = window.fetch;
  window.fetch = (input, init) => {
    const request = new Request(input, init);
    const fault = (window as unknown as { fault?: string }).fault;
    if (fault) request.headers.set("x-fault", fault);
    return fetch(request);
  };
  // One root each, and no error boundary: an error thrown into React unmounts its example.
  ${names.map((name) => `createRoot(document.getElementById("${name}")!).render(<Example_${name} />);`).join("\n")}
  `,
    );
    writeFileSync(
      join(src, "index.html"),
      `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>
  ${names.map((name) => `<div id="${name}"></div>`).join("\n")}
  <script type="module" src="./main.tsx"></script></body></html>`,
    );
    viteBuild(src, "--outDir", out);
    return out;
  },
  (s, b) => ([server, browser] = [s, b]),
);

async function open() {
  const page = await newPage(await browser.newContext());
  await page.goto(server.url);
  await page.locator("#hook form").waitFor();
  await page.locator("#action form").waitFor();
  return page;
}

async function submit(page, root, name, fault) {
  await page.evaluate((fault) => (window.fault = fault), fault);
  await page.locator(`${root} input[name=name]`).fill(name);
  await page.locator(`${root} button`).click();
}

async function posts() {
  return (await server.requests("/api/orgs")).filter((r) => r.method === "POST");
}

test("README useSubmitGuard example: 3 × 503 shows the error, the resubmit keeps the key and creates", async () => {
  const page = await open();
  const status = page.locator("#hook [role=status]");
  await submit(page, "#hook", "Acme", "status=503");
  await eventually(async () => (await status.textContent()) === "Not created (HTTP): submit again to retry.", 10_000);
  const failed = await posts();
  assert.equal(failed.length, 3, JSON.stringify(failed)); // the first attempt and `retries: 2`
  assert.equal(new Set(failed.map((r) => r.key)).size, 1);
  await submit(page, "#hook", "Acme", "");
  await eventually(async () => (await status.textContent()) === "Created Acme", 10_000);
  const all = await posts();
  assert.equal(all.length, 4);
  assert.equal(all[3].key, failed[0].key);
  assert.deepEqual(page.errors, []);
});

test("README useGuardedActionState example: a 503 is an error state, sent once; an unanswered request is resent with its key", async () => {
  const page = await open();
  const alert = page.locator("#action [role=alert]");
  await submit(page, "#action", "Beta", "status=503");
  await eventually(async () => (await alert.textContent()) === "Not created (503): submit again.", 10_000);
  assert.equal((await posts()).length, 1, "a run task is not retried on a 503");

  // The response is lost after the server created the org.
  await submit(page, "#action", "Beta", "garble-after-commit; times=1");
  await eventually(async () => (await alert.textContent()) === "No answer: submit again.", 10_000);
  await submit(page, "#action", "Beta", "");
  await eventually(async () => (await page.locator("#action p").first().textContent()) === "Created Beta", 10_000);
  const [, lost, resent] = await posts();
  assert.ok(lost.key);
  assert.equal(resent.key, lost.key, "the unanswered request is resent with its key");
  const orgs = await server.json("/api/orgs");
  assert.equal(orgs.filter((org) => org.name === "Beta").length, 1, JSON.stringify(orgs));
  assert.ok(await page.locator("#action form").isVisible(), "the form is still mounted");
  assert.deepEqual(page.errors, []);
});

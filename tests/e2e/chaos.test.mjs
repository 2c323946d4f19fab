// Chaos: 200 submissions through `guard.fetch` in headless Chromium against
// the reference server (SQLite file), each hit by a random fault from the
// server's `X-Fault` set — a delay, a failure before or after commit, the lost
// response (`garble-after-commit`), 503, 429 or 500 — striking its first 1–3
// requests or every one. The "user" tries each submission up to 3 times with
// the same guard (so the same key) until one succeeds. At the end the
// server's effects are exactly the submissions the user saw succeed, one
// each: nothing acknowledged is lost, nothing runs twice, and no guard is
// left pending.
//
// The same plan with plain `fetch` (no guard, no key, the same user retries)
// must make duplicates: the second test shows the first can fail.
//
// Seeded: the seed is printed; CHAOS_SEED=<n> replays a run exactly (the
// plan, not the timing). CHAOS_SUBMISSIONS changes the count.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, launch, newPage, startServer, staticDir } from "./harness.mjs";
import { sqliteStore } from "./demo.mjs";

const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 32));
const SUBMISSIONS = Number(process.env.CHAOS_SUBMISSIONS ?? 200);
const USER_TRIES = 3;
const IN_PARALLEL = 10;

/** mulberry32: a small seeded PRNG, enough to replay a plan. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const FAULTS = [
  null,
  () => `delay=${20 + Math.floor(random() * 180)}`,
  () => "fail-before-commit",
  () => "fail-after-commit",
  () => "garble-after-commit",
  () => "status=503",
  () => "status=429",
  () => "status=500",
];
let random;

/** The plan: per submission, its `X-Fault` value (or null). */
function plan(seed, count) {
  random = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const make = FAULTS[Math.floor(random() * FAULTS.length)];
    if (!make) return { name: `chaos-${seed}-${i}`, fault: null };
    const fault = make();
    // The first 1–3 requests with this key, or (1 in 4) every one.
    const strikes = random() < 0.25 ? "" : `; times=${1 + Math.floor(random() * 3)}`;
    return { name: `chaos-${seed}-${i}`, fault: fault + strikes };
  });
}

let server, browser;

before(async () => {
  console.log(`chaos seed ${SEED} (CHAOS_SEED=${SEED} replays it), ${SUBMISSIONS} submissions`);
  const dir = staticDir({ "submit.html": join(ROOT, "tests/e2e/pages/submit.html"), pkg: join(ROOT, "pkg") });
  server = await startServer(["--store", sqliteStore(), "--test-mode", "--static", dir]);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Runs `work` over `items`, `n` at a time. */
async function pool(items, n, work) {
  const results = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i], i);
      }
    }),
  );
  return results;
}

async function openPage() {
  const page = await newPage(await browser.newContext());
  await page.goto(`${server.url}/submit.html`);
  await page.waitForFunction(() => window.ready);
  return page;
}

/** Orgs per name on the server. */
async function effectsByName() {
  const counts = new Map();
  for (const org of await server.json("/api/orgs")) counts.set(org.name, (counts.get(org.name) ?? 0) + 1);
  return counts;
}

/** One submission as a user makes it: up to USER_TRIES tries until one succeeds. */
async function submitAsUser(page, { name, fault }, i, guarded) {
  const headers = fault ? { "x-fault": fault } : {};
  if (guarded) await page.evaluate((i) => (window.guards ??= {})[i] = window.makeGuard(), i);
  let seen;
  for (let tryNo = 1; tryNo <= USER_TRIES; tryNo += 1) {
    seen = guarded
      ? await page.evaluate(([i, name, h]) => window.submit("/api/orgs", { name }, h, window.guards[i]), [i, name, headers])
      : await page.evaluate(([name, h]) => window.plainSubmit("/api/orgs", { name }, h), [name, headers]);
    if (seen.ok) return { ...seen, tries: tryNo };
  }
  return { ...seen, tries: USER_TRIES };
}

test(`chaos: ${SUBMISSIONS} guarded submissions under random faults — effects equal acknowledged successes, 0 duplicates, none pending`, async () => {
  await server.reset();
  const submissions = plan(SEED, SUBMISSIONS);
  const page = await openPage();
  const started = Date.now();
  const seen = await pool(submissions, IN_PARALLEL, (s, i) => submitAsUser(page, s, i, true));
  const effects = await effectsByName();
  const succeeded = submissions.filter((_, i) => seen[i].ok);
  const failed = submissions.filter((_, i) => !seen[i].ok);
  const faults = {};
  for (const s of submissions) {
    const kind = (s.fault ?? "none").split(/[=;]/)[0] + (s.fault?.includes("status=") ? s.fault.slice(7, 10) : "");
    faults[kind] = (faults[kind] ?? 0) + 1;
  }
  console.log(
    `chaos seed ${SEED}: ${succeeded.length} succeeded, ${failed.length} failed after ${USER_TRIES} tries, ` +
      `${Date.now() - started} ms; faults ${JSON.stringify(faults)}`,
  );
  const why = (s) => `seed ${SEED}, ${s.name} (${s.fault}): ${JSON.stringify(seen[submissions.indexOf(s)])}`;
  for (const s of succeeded) assert.equal(effects.get(s.name), 1, `acknowledged, so exactly one effect: ${why(s)}`);
  for (const s of failed) assert.equal(effects.get(s.name) ?? 0, 0, `never acknowledged, so no effect: ${why(s)}`);
  const total = [...effects.values()].reduce((a, b) => a + b, 0);
  assert.equal(total, succeeded.length, "the effects are exactly the acknowledged successes");
  // Only a fault that strikes every request and commits nothing can make a
  // user give up: a status, or a failure before commit.
  for (const s of failed) {
    assert.match(s.fault ?? "", /^(status=\d+|fail-before-commit)$/, `only an endless fault fails: ${why(s)}`);
  }
  // One key per submission, on every request it made.
  const keysByName = new Map();
  const posts = (await server.requests("/api/orgs")).filter((r) => r.method === "POST");
  assert.ok(posts.every((r) => r.done), "no request still in progress");
  const guards = await page.evaluate(() =>
    Object.values(window.guards).map((g) => ({ pending: g.pending, state: g.state, key: g.key })),
  );
  assert.equal(guards.length, SUBMISSIONS);
  assert.deepEqual(
    guards.filter((g) => g.pending),
    [],
    "no guard left pending",
  );
  for (const r of posts) {
    assert.ok(r.key, "every guarded request is keyed");
    keysByName.set(r.key, (keysByName.get(r.key) ?? 0) + 1);
  }
  assert.equal(keysByName.size, SUBMISSIONS, "one key per submission, reused by every retry");
  noErrors(page);
});

test("chaos without the guard: the same plan with plain fetch and the same user retries makes duplicates", async () => {
  await server.reset();
  const submissions = plan(SEED, SUBMISSIONS).map((s) => ({ ...s, name: `plain-${s.name}` }));
  // Faults after commit are what turn a user's retry into a second effect.
  const afterCommit = submissions.filter((s) => /^(fail|garble)-after-commit/.test(s.fault ?? ""));
  assert.ok(afterCommit.length > 0, `seed ${SEED}: the plan has faults after commit`);
  const page = await openPage();
  const seen = await pool(submissions, IN_PARALLEL, (s, i) => submitAsUser(page, s, i, false));
  const effects = await effectsByName();
  const duplicated = submissions.filter((s) => (effects.get(s.name) ?? 0) > 1);
  const lost = submissions.filter((s, i) => !seen[i].ok && (effects.get(s.name) ?? 0) > 0);
  console.log(
    `chaos without the guard, seed ${SEED}: ${duplicated.length} submissions duplicated, ` +
      `${lost.length} with an effect the user was told failed`,
  );
  assert.ok(duplicated.length > 0, `seed ${SEED}: without the guard a user's retry duplicates`);
  // Every after-commit fault struck the first plain request (no key: each
  // `times` counter is shared by requests with the same X-Fault value, so
  // only the very first of a kind is certain) — at least one duplicate.
  assert.ok(
    duplicated.every((s) => afterCommit.includes(s)),
    "duplicates come from faults after commit",
  );
  noErrors(page);
});

function noErrors(page) {
  assert.deepEqual(page.errors.map(String), []);
}

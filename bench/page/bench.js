// The in-browser benchmarks, run by bench/client.mjs and bench/e2e.mjs in
// headless Chromium: each function returns raw numbers, and the runner does
// the statistics. Three clients do the same job, a guarded JSON POST:
//
//   guard  submit-guard's `guard.fetch` (the package as shipped: one ES
//          module, the wasm instantiated by the first `new SubmitGuard()`)
//   ky     `ky.post(url, { json })` (ky 2.x), retries and timeout at defaults
//   hand   the lock + key + fetch that teams hand-roll (handRolled), doing
//          the browser work the guard must do for one attempt
import { SubmitGuard } from "./pkg/submit_guard.js";
import ky from "./ky/index.js";

const URL = "/api/qr/sessions";
const JSON_HEADERS = { "content-type": "application/json" };

/** A fetch that answers at once, so only the client's own work is timed. */
const instant = () => Promise.resolve(new Response("{}", { status: 201 }));

/**
 * The hand-written peer: an in-flight flag, a key, and the browser work the
 * guard does for one attempt, so the comparison is like for like: a
 * `Request` built with the `Idempotency-Key` header, an `AbortController`
 * and a 30 s timeout (the guard's default) cleared when the attempt ends.
 * No retries, no fingerprint, no cross-tab or saved key: those are the
 * guard's own work, and what this ratio prices.
 */
function handRolled(fetchImpl = fetch) {
  let inFlight = false;
  let key = crypto.randomUUID();
  return async function submit(url, body) {
    if (inFlight) throw new Error("a submission is already in flight");
    inFlight = true;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException("timed out", "TimeoutError")), 30_000);
    try {
      const headers = { "content-type": "application/json", "idempotency-key": key };
      const request = new Request(url, { method: "POST", headers, body, signal: controller.signal });
      const response = await fetchImpl(request);
      if (response.ok) key = crypto.randomUUID();
      return response;
    } finally {
      clearTimeout(timer);
      inFlight = false;
    }
  };
}

/** Each client as a zero-argument submit, over `fetchImpl`. */
const clients = {
  guard(fetchImpl) {
    const guard = new SubmitGuard({ fetch: fetchImpl });
    return () => guard.fetch(URL, { method: "POST", headers: JSON_HEADERS, body: JSON.stringify({ table: "bench" }) });
  },
  ky(fetchImpl) {
    return () => ky.post(URL, { fetch: fetchImpl, json: { table: "bench" } });
  },
  hand(fetchImpl) {
    const submit = handRolled(fetchImpl);
    return () => submit(URL, JSON.stringify({ table: "bench" }));
  },
};

const collect = () => globalThis.gc?.();

function rotate(order, i) {
  const k = i % order.length;
  return [...order.slice(k), ...order.slice(0, k)];
}

/** P2: µs per call over `calls` sequential awaited submits, per client and
 *  run; clients take turns (rotated) within each run, after a warm-up.
 *  `only` names one client, to profile it alone. */
async function clientOverhead({ calls, runs, warmup, only }) {
  const names = only ? [only] : Object.keys(clients);
  const submits = Object.fromEntries(names.map((name) => [name, clients[name](instant)]));
  for (const name of names) {
    for (let i = 0; i < warmup; i++) await submits[name]();
  }
  const perRun = Object.fromEntries(names.map((name) => [name, []]));
  for (let run = 0; run < runs; run++) {
    for (const name of rotate(names, run)) {
      const submit = submits[name];
      collect();
      const start = performance.now();
      for (let i = 0; i < calls; i++) await submit();
      perRun[name].push(((performance.now() - start) * 1000) / calls);
    }
  }
  return perRun;
}

/** P3: `calls` submits in one tick through a counting instant fetch: how
 *  many requests each client sends and the ms until every call settled.
 *  `only` names one client, to profile it alone. */
async function dedupeStorm({ calls, runs, only }) {
  const names = only ? [only] : Object.keys(clients);
  const perRun = Object.fromEntries(names.map((name) => [name, []]));
  for (let run = 0; run < runs; run++) {
    for (const name of rotate(names, run)) {
      let sent = 0;
      const submit = clients[name](() => {
        sent += 1;
        return instant();
      });
      collect();
      const start = performance.now();
      const settled = await Promise.allSettled(Array.from({ length: calls }, () => submit()));
      const ms = performance.now() - start;
      const fulfilled = settled.filter((s) => s.status === "fulfilled").length;
      perRun[name].push({ ms, sent, fulfilled });
    }
  }
  return perRun;
}

/** P4: sequential POSTs to the server, each timed until its body is read,
 *  in blocks of `block` that alternate the modes (ABBA) to cancel drift.
 *  Modes: guard (guard.fetch), raw (fetch, no key), keyed (fetch with a
 *  fresh Idempotency-Key: the server's claim without the client guard). */
async function endToEnd({ perMode, block, warmup }) {
  const guard = new SubmitGuard();
  const body = () => JSON.stringify({ table: "bench" });
  const modes = {
    guard: () => guard.fetch(URL, { method: "POST", headers: JSON_HEADERS, body: body() }),
    raw: () => fetch(URL, { method: "POST", headers: JSON_HEADERS, body: body() }),
    keyed: () =>
      fetch(URL, {
        method: "POST",
        headers: { ...JSON_HEADERS, "idempotency-key": crypto.randomUUID() },
        body: body(),
      }),
  };
  const names = Object.keys(modes);
  const once = async (name) => {
    const start = performance.now();
    const response = await modes[name]();
    await response.text();
    const ms = performance.now() - start;
    if (response.status !== 201) throw new Error(`${name}: status ${response.status}`);
    return ms;
  };
  for (let i = 0; i < warmup; i++) for (const name of names) await once(name);
  const latencies = Object.fromEntries(names.map((name) => [name, []]));
  collect();
  for (let b = 0; b < perMode / block; b++) {
    const order = b % 2 ? [...names].reverse() : names;
    for (const name of order) {
      for (let i = 0; i < block; i++) latencies[name].push(await once(name));
    }
  }
  return latencies;
}

window.bench = { clientOverhead, dedupeStorm, endToEnd, handRolledSource: handRolled.toString() };

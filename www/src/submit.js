// How every page submits: through its SubmitGuard (the fix) or, with the
// guard switched off, through plain `fetch` with no key (the bug).
import { useRef, useState } from "react";
import { useSubmitGuard } from "submit-guard/react";

/**
 * What the "Simulate" select can do to a submission, through the test-mode
 * server's `X-Fault` header. `once` faults strike the first attempt only
 * (`; times=1`, counted per key), so the guard's retry with the same key gets
 * through; without a key there is no retry, and the page's Retry button sends
 * no fault.
 */
export const SIMULATIONS = {
  slow: { label: "slow server (1 s)", fault: "delay=1000" },
  none: { label: "none (fast local server)", fault: null },
  lost: { label: "lost response", fault: "garble-after-commit", once: true },
  503: { label: "503 once", fault: "status=503", once: true },
  error: { label: "500 on every attempt", fault: "status=500" },
};

/** Slow by default: duplicates happen while a request is in flight. */
export const DEFAULT_SIMULATION = "slow";

/** The demo's guard options; a page may add its own (read once per component, see the hook). */
const GUARD_OPTIONS = { timeoutMs: 10_000 };

/** The page settings kept in the URL: `guard=off`, `simulate=…`. */
export function readSettings(params) {
  const simulate = params.get("simulate");
  return {
    guardOn: params.get("guard") !== "off",
    simulate: simulate in SIMULATIONS ? simulate : DEFAULT_SIMULATION,
  };
}

/**
 * One form's submissions. `send({ url, body, headers })` POSTs JSON and
 * resolves with the outcome it also keeps in `outcome`:
 * `{ ok: true, status, body, replayed }` or `{ ok: false, code, status, message }`.
 * `retry()` sends the last request again, without a simulated fault: with the
 * guard on it goes out with the same key (the guard keeps it after a failure).
 */
export function useSubmitter({ guardOn, simulate }, options) {
  const guard = useSubmitGuard({ ...GUARD_OPTIONS, ...options });
  const [outcome, setOutcome] = useState(null);
  const [inFlight, setInFlight] = useState(0);
  const last = useRef(null);

  async function send(request, { retry = false } = {}) {
    last.current = request;
    const headers = { "content-type": "application/json", ...request.headers };
    const simulation = SIMULATIONS[simulate];
    if (simulation?.fault && !retry) {
      headers["x-fault"] = guardOn && simulation.once ? `${simulation.fault}; times=1` : simulation.fault;
    }
    const init = { method: "POST", headers, body: JSON.stringify(request.body ?? {}) };
    let result;
    try {
      const response = guardOn ? await guard.fetch(request.url, init) : await plainFetch(request.url, init, setInFlight);
      result = {
        ok: true,
        status: response.status,
        body: await response.json(),
        replayed: response.headers.get("idempotent-replayed") === "true",
      };
    } catch (error) {
      result = await describe(error);
    }
    setOutcome(result);
    return result;
  }

  return {
    guard,
    guardOn,
    outcome,
    inFlight,
    pending: guardOn ? guard.pending : inFlight > 0,
    send,
    retry: () => send(last.current, { retry: true }),
  };
}

/** The naive version: no key, no lock, no retry; an HTTP error throws. */
async function plainFetch(url, init, setInFlight) {
  setInFlight((n) => n + 1);
  try {
    const response = await fetch(url, init);
    if (!response.ok) throw Object.assign(new Error(`HTTP ${response.status}`), { code: "HTTP", status: response.status, response });
    return response;
  } catch (error) {
    if (error instanceof TypeError) throw Object.assign(new Error(error.message), { code: "NETWORK" });
    throw error;
  } finally {
    setInFlight((n) => n - 1);
  }
}

/** A SubmitGuardError (or the plain path's look-alike) as something to show. */
async function describe(error) {
  let message = error.message;
  if (error.code === "HTTP" && error.response) {
    try {
      const problem = await error.response.clone().json();
      message = problem.detail ?? problem.title ?? message;
    } catch {
      // not JSON: keep the error's own message
    }
  }
  return { ok: false, code: error.code ?? error.name, status: error.status, message };
}

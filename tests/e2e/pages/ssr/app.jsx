// The component ssr.test.mjs renders on the server (server.jsx) and hydrates
// in the browser (main.jsx): a form that shows its guard's key. `direct`
// renders `guard.key` itself, which differs between the server's guard and
// the hydrating client's: the test's check that a mismatch is seen. Each
// client render's key is kept in `window.renderedKeys`.
import { useSubmitGuard, useSubmitGuardState } from "submit-guard/react";

export function App({ direct = false }) {
  const guard = useSubmitGuard();
  const { state, key } = useSubmitGuardState(guard);
  if (typeof window !== "undefined") window.renderedKeys.push(key);
  function submit() {
    const headers = { "content-type": "application/json" };
    guard.fetch("/api/qr/sessions", { method: "POST", headers, body: JSON.stringify({ table: "ssr" }) }).catch(() => {});
  }
  return (
    <p>
      <span id="state">{state}</span> <span id="key">{direct ? guard.key : key}</span>{" "}
      <button type="button" onClick={submit}>
        Submit
      </button>
    </p>
  );
}

// A page for action.test.mjs: a React 19 form whose action creates an org,
// through useGuardedActionState (?guard=on) or plain useActionState
// (?guard=off). `window.burst()` submits it 10 times in one task.
import { StrictMode, useActionState } from "react";
import { createRoot } from "react-dom/client";
import { useGuardedActionState } from "submit-guard/react";

const guarded = new URLSearchParams(window.location.search).get("guard") !== "off";

async function create(previous, formData, { key }) {
  const response = await fetch("/api/orgs?t=action", {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ name: formData.get("name") }),
  });
  const body = await response.json();
  return { runs: previous.runs + 1, id: body.id ?? previous.id };
}

function Guarded() {
  const [state, action, pending] = useGuardedActionState(create, { runs: 0, id: null });
  return <Form state={state} action={action} pending={pending} />;
}

function Unguarded() {
  const [state, action, pending] = useActionState((previous, formData) => create(previous, formData, { key: crypto.randomUUID() }), {
    runs: 0,
    id: null,
  });
  return <Form state={state} action={action} pending={pending} />;
}

function Form({ state, action, pending }) {
  return (
    <form action={action}>
      <input name="name" defaultValue={`Action ${Date.now()}`} />
      <button type="submit">Create</button>
      <output id="runs">{state.runs}</output> <output id="id">{state.id ?? ""}</output> <output id="pending">{String(pending)}</output>
    </form>
  );
}

window.burst = () => {
  const form = document.querySelector("form");
  for (let i = 0; i < 10; i++) form.requestSubmit();
};

createRoot(document.getElementById("root")).render(<StrictMode>{guarded ? <Guarded /> : <Unguarded />}</StrictMode>);

// A page for hook.test.mjs: one component using `useSubmitGuard`, under
// StrictMode, that the test mounts, unmounts, hides in <Activity> and
// re-renders through `window.app`.
import { Activity, StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import { useSubmitGuard } from "submit-guard/react";

const options = Object.fromEntries([...new URLSearchParams(window.location.search)].map(([k, v]) => [k, JSON.parse(v)]));

function Form({ renders }) {
  const guard = useSubmitGuard(options);
  function submit() {
    const headers = { "content-type": "application/json" };
    if (window.fault) headers["x-fault"] = window.fault;
    guard.fetch("/api/qr/sessions", { method: "POST", headers, body: JSON.stringify({ table: "hook" }) }).catch(() => {});
  }
  return (
    <p>
      <span id="state">{guard.state}</span> <span id="key">{guard.key}</span> <span id="attempts">{guard.attempts}</span>{" "}
      <span id="renders">{renders}</span>{" "}
      <button type="button" onClick={submit}>
        Submit
      </button>
    </p>
  );
}

function App() {
  const [mounted, setMounted] = useState(true);
  const [visible, setVisible] = useState(true);
  const [renders, setRenders] = useState(0);
  window.app = {
    unmount: () => setMounted(false),
    hide: () => setVisible(false),
    show: () => setVisible(true),
    rerender: () => setRenders((n) => n + 1),
  };
  return mounted ? (
    <Activity mode={visible ? "visible" : "hidden"}>
      <Form renders={renders} />
    </Activity>
  ) : (
    <p id="unmounted">unmounted</p>
  );
}

createRoot(document.getElementById("root"), {
  onUncaughtError: (error) => window.reportError(error),
}).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

// Hydrates the server-rendered page (ssr.test.mjs writes the HTML and the
// props, `data-props` on #root), or renders on the client only when #root is
// empty. Every error React recovers from, a hydration mismatch among them,
// is kept in `window.recoverable`.
import { StrictMode } from "react";
import { createRoot, hydrateRoot } from "react-dom/client";
import { App } from "./app.jsx";

const root = document.getElementById("root");
const app = (
  <StrictMode>
    <App {...JSON.parse(root.dataset.props ?? "{}")} />
  </StrictMode>
);
const options = {
  onRecoverableError: (error) => window.recoverable.push(String(error?.message ?? error)),
  onUncaughtError: (error) => window.reportError(error),
};
window.recoverable = [];
window.renderedKeys = [];
if (root.hasChildNodes()) hydrateRoot(root, app, options);
else createRoot(root, options).render(app);

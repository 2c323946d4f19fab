// Server rendering for ssr.test.mjs (built with `vite build --ssr`, run in
// Node): the page's HTML, as a framework would send it.
import { StrictMode } from "react";
import { renderToString } from "react-dom/server";
import { App } from "./app.jsx";

export function render(props) {
  return renderToString(
    <StrictMode>
      <App {...props} />
    </StrictMode>,
  );
}

import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App.jsx";
import "./style.css";

// The whole app runs under StrictMode: in this development build React mounts
// every component twice and runs every effect twice, as in field report 003.
createRoot(document.getElementById("root")).render(
  <StrictMode>
    <App />
  </StrictMode>,
);

// Hash routing without a router library: `#/orgs?guard=off&simulate=lost`.
// The query holds the page's settings, so a link or a reload keeps them.
import { useEffect, useState } from "react";

function parse(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  return { path: path || "/", params: new URLSearchParams(query) };
}

export function useRoute() {
  const [hash, setHash] = useState(() => window.location.hash);
  useEffect(() => {
    const onChange = () => setHash(window.location.hash);
    window.addEventListener("hashchange", onChange);
    return () => window.removeEventListener("hashchange", onChange);
  }, []);
  const { path, params } = parse(hash);

  /** Sets (or, at its default, removes) one setting in the URL. */
  function setParam(name, value, fallback) {
    const next = new URLSearchParams(params);
    if (value === fallback) next.delete(name);
    else next.set(name, value);
    const query = next.toString();
    const href = `#${path}${query ? `?${query}` : ""}`;
    window.history.replaceState(null, "", href);
    setHash(href);
  }

  return { path, params, setParam };
}

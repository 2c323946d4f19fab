"use client";

import { useEffect, useState, type FormEvent } from "react";
import { useSubmitGuard, useSubmitGuardState } from "submit-guard/react";

// The hook runs in server rendering too; the state and the (empty) key it
// renders there are checked in the HTML, and hydration must not find a
// mismatch: the key shown comes from useSubmitGuardState, null until
// hydrated, then the client guard's. `api` in the query string is the
// server's origin.
export function CreateOrg() {
  const guard = useSubmitGuard({ timeoutMs: 10_000 });
  const { state, pending, key } = useSubmitGuardState(guard);
  const [result, setResult] = useState("");
  useEffect(() => {
    Object.assign(window, { consumerReady: true });
  }, []);

  async function onSubmit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    const api = new URLSearchParams(location.search).get("api") ?? "";
    const body = JSON.stringify({ name: new FormData(event.currentTarget).get("name") });
    try {
      const response = await guard.fetch(`${api}/api/orgs`, {
        method: "POST",
        body,
        headers: { "content-type": "application/json" },
      });
      setResult(`created ${response.status}`);
    } catch (error) {
      setResult(`error ${String(error)}`);
    }
  }

  return (
    <form aria-label="Create organization" onSubmit={onSubmit}>
      <input name="name" defaultValue="Acme" aria-label="Organization name" />
      <button type="submit" disabled={pending} aria-busy={pending}>
        Create
      </button>
      <p data-testid="state">{state}</p>
      <p data-testid="key">{key}</p>
      <output id="result">{result}</output>
    </form>
  );
}

"use client";

import { useEffect, useState, type FormEvent } from "react";
import { useSubmitGuard } from "submit-guard/react";

// The hook runs in server rendering too; the state it renders there is
// checked in the HTML. `api` in the query string is the server's origin.
export function CreateOrg() {
  const guard = useSubmitGuard({ timeoutMs: 10_000 });
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
      <button type="submit" disabled={guard.pending} aria-busy={guard.pending}>
        Create
      </button>
      <p data-testid="state">{guard.state}</p>
      <output id="result">{result}</output>
    </form>
  );
}

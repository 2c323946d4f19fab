import { useState } from "react";
import { useSubmitGuard } from "submit-guard/react";

/** A form as a team would test it: it posts to a relative URL. */
export function CreateOrg() {
  const guard = useSubmitGuard({ timeoutMs: 10_000 });
  const [result, setResult] = useState("");

  async function onSubmit(event) {
    event.preventDefault();
    const body = JSON.stringify({ name: new FormData(event.currentTarget).get("name") });
    try {
      const response = await guard.fetch("/api/orgs", {
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
      <input name="name" defaultValue="Vitest" aria-label="Organization name" />
      <button type="submit" disabled={guard.pending}>
        Create
      </button>
      <output>{result}</output>
    </form>
  );
}

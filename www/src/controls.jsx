// What every page shows around its form: the guard switch and the simulate
// select, the guard's state, the outcome (an error comes with Retry), and
// the requests the server received.
import { DEFAULT_SIMULATION, SIMULATIONS } from "./submit.js";
import { usePoll } from "./poll.js";

/** A demo page: its title, the bug it reproduces, its content. */
export function Page({ title, report, children }) {
  return (
    <main>
      <h2>{title}</h2>
      <p className="report">{report}</p>
      {children}
    </main>
  );
}

export function PageControls({ settings, setParam }) {
  return (
    <fieldset className="controls">
      <legend>Try it</legend>
      <label className="switch">
        <input
          type="checkbox"
          role="switch"
          checked={settings.guardOn}
          onChange={(event) => setParam("guard", event.target.checked ? "on" : "off", "on")}
        />
        Guard {settings.guardOn ? "on: SubmitGuard" : "off: plain fetch, no key"}
      </label>
      <label>
        Simulate{" "}
        <select value={settings.simulate} onChange={(event) => setParam("simulate", event.target.value, DEFAULT_SIMULATION)}>
          {Object.entries(SIMULATIONS).map(([value, { label }]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </label>
    </fieldset>
  );
}

/** State, key and attempts of the guard, or the plain path's requests in flight. */
export function GuardStatus({ submitter }) {
  const { guard, guardOn, inFlight } = submitter;
  if (!guardOn) {
    return (
      <dl className="status off" aria-label="Submission status">
        <dt>Guard</dt>
        <dd>off</dd>
        <dt>In flight</dt>
        <dd data-testid="in-flight">{inFlight}</dd>
      </dl>
    );
  }
  return (
    <dl className="status" aria-label="Submission status">
      <dt>State</dt>
      <dd data-testid="state">{guard.state}</dd>
      <dt>Key</dt>
      <dd>
        <code data-testid="key">{guard.key}</code>
        <span className="note"> {keyNoteFor(guard.state)}</span>
      </dd>
      <dt>Attempts</dt>
      <dd data-testid="attempts">{guard.attempts}</dd>
    </dl>
  );
}

function keyNoteFor(state) {
  if (state === "succeeded") return "(new: the last submission succeeded)";
  if (state === "failed") return "(kept: resubmitting the same form reuses it)";
  return "";
}

/** The outcome of the last submission: `success` renders a success, an error gets Retry. */
export function Outcome({ submitter, success }) {
  const { outcome, guardOn, pending } = submitter;
  if (!outcome) return null;
  if (outcome.ok) {
    return (
      <p className="success" role="status" data-testid="success">
        {success(outcome.body, outcome)}
        {outcome.replayed && <span className="badge">replayed by the server</span>}
      </p>
    );
  }
  return (
    <div className="error" role="alert">
      <p>
        <strong>{outcome.code}</strong>
        {outcome.status ? ` ${outcome.status}` : ""}: {outcome.message}
      </p>
      <button type="button" onClick={submitter.retry} disabled={guardOn && pending}>
        {guardOn ? "Retry with the same key" : "Retry (plain fetch: a new request)"}
      </button>
    </div>
  );
}

/** The unsafe requests the server received for paths containing `pathPart` (test mode only). */
export function ServerLog({ pathPart }) {
  const log = usePoll("/api/_requests");
  if (!Array.isArray(log)) return null;
  const rows = log.filter((r) => r.method !== "GET" && r.method !== "OPTIONS" && r.path.includes(pathPart));
  return (
    <section className="log" aria-labelledby="log-title">
      <h3 id="log-title">
        Requests the server received: <span data-testid="request-count">{rows.length}</span>
      </h3>
      <table>
        <thead>
          <tr>
            <th>request</th>
            <th>Idempotency-Key</th>
            <th>X-Fault</th>
            <th>status</th>
          </tr>
        </thead>
        <tbody>
          {rows.slice(-12).map((r, i) => (
            <tr key={i}>
              <td>
                {r.method} {r.path.replace(/[0-9a-f-]{32,36}/g, short)}
              </td>
              <td>
                <code>{r.key ? short(r.key) : "none"}</code>
              </td>
              <td>{r.fault ?? ""}</td>
              <td>{r.status ?? (r.done ? "no response" : "in flight…")}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A list of what the server created, with its count, announced as it changes. */
export function Created({ title, items, render, testid }) {
  return (
    <section className="created" aria-live="polite" aria-labelledby={`${testid}-title`}>
      <h3 id={`${testid}-title`}>
        {title}: <span data-testid={testid}>{items ? `${items.length} created` : "…"}</span>
      </h3>
      <ul>
        {(items ?? []).map((item, i) => (
          <li key={i}>{render(item)}</li>
        ))}
      </ul>
    </section>
  );
}

export function short(id) {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

// Field report 003: a QR code page opened a guest session in an effect on
// mount; React StrictMode runs that effect twice, so every scan made two.
import { useEffect, useState } from "react";
import { Created, GuardStatus, Outcome, Page, PageControls, ServerLog, short } from "../controls.jsx";
import { usePoll } from "../poll.js";
import { useSubmitter } from "../submit.js";

export function QrPage({ settings, setParam, params }) {
  const table = params.get("table") ?? "7";
  const [scan, setScan] = useState(1);
  const sessions = usePoll("/api/qr/sessions");
  return (
    <Page title="Table QR" report="The bug: a restaurant page opened by scanning a table’s QR code starts a guest session as it loads. In development React runs that code twice, and every scan opened two sessions. The server rightly makes a new session per request; the guard sends one.">
      <PageControls settings={settings} setParam={setParam} />
      <div className="columns">
        <div>
          <TableScan key={scan} table={table} settings={settings} />
          <button type="button" onClick={() => setScan((n) => n + 1)}>
            Scan the code again
          </button>
          <p className="note">The switch and the select apply from the next scan.</p>
        </div>
        <div>
          <Created title="Sessions" testid="session-count" items={sessions} render={(s) => `table ${s.table} · ${short(s.id)}`} />
          <ServerLog pathPart="/api/qr/sessions" />
        </div>
      </div>
    </Page>
  );
}

/** What the QR link opens: it starts a session as soon as it mounts. */
function TableScan({ table, settings }) {
  const submitter = useSubmitter(settings);

  // Runs twice on mount under StrictMode. With the guard on, the second call
  // finds the first in flight and shares its response: one request.
  useEffect(() => {
    submitter.send({ url: "/api/qr/sessions", body: { table } });
    // Mount only, like the page in the report.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  return (
    <section aria-label="Table session" aria-busy={submitter.pending}>
      <h3>Table {table}</h3>
      {submitter.pending && <p>Opening your session…</p>}
      <GuardStatus submitter={submitter} />
      <Outcome submitter={submitter} success={(s) => `Welcome! Session ${s.id} for table ${s.table}.`} />
    </section>
  );
}

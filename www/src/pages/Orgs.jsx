// Field reports 000 and 001: ten fast clicks on "Create organization" made
// two or three orgs (and orphaned memberships) before any lock or cache saw
// the first request.
import { useState } from "react";
import { Created, GuardStatus, Outcome, Page, PageControls, ServerLog, short } from "../controls.jsx";
import { usePoll } from "../poll.js";
import { useSubmitter } from "../submit.js";

export function OrgsPage({ settings, setParam }) {
  const submitter = useSubmitter(settings);
  const [name, setName] = useState("Acme");
  const orgs = usePoll("/api/orgs");
  const memberships = usePoll("/api/memberships");

  async function onSubmit(event) {
    event.preventDefault();
    const result = await submitter.send({ url: "/api/orgs", body: { name } });
    if (result.ok) setName("");
  }

  return (
    <Page title="Create organization" report="The bug: a double click (or a held Enter key, or a retry on a slow network) on “Create” sent the form twice, and the app created two organizations, each with its own owner membership. Turn the guard off and click fast to see it.">
      <PageControls settings={settings} setParam={setParam} />
      <div className="columns">
        <div>
          <form onSubmit={onSubmit} aria-label="Create organization">
            <label>
              Organization name <input name="name" value={name} onChange={(event) => setName(event.target.value)} autoComplete="off" />
            </label>
            <button type="submit" disabled={settings.guardOn && submitter.pending} aria-busy={submitter.pending}>
              {submitter.pending ? "Creating…" : "Create organization"}
            </button>
          </form>
          <GuardStatus submitter={submitter} />
          <Outcome submitter={submitter} success={(org) => `Created “${org.name}” (${org.slug}).`} />
        </div>
        <div>
          <Created title="Organizations" testid="org-count" items={orgs} render={(org) => `${org.name} · ${org.slug} · ${short(org.id)}`} />
          <Created title="Memberships" testid="membership-count" items={memberships} render={(m) => `${m.role} of ${short(m.orgId)}`} />
          <ServerLog pathPart="/api/orgs" />
        </div>
      </div>
    </Page>
  );
}

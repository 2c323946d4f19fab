// Field report 002: an onboarding wizard submitted twice (double click,
// mobile retry, back and resubmit) and one invite became two submissions.
import { useState } from "react";
import { Created, GuardStatus, Outcome, Page, PageControls, ServerLog, short } from "../controls.jsx";
import { usePoll } from "../poll.js";
import { useSubmitter } from "../submit.js";

export function InvitePage({ settings, setParam, params }) {
  const token = params.get("invite");
  const invites = usePoll("/api/invites");
  return (
    <Page title="Claim invite" report="The bug: the last step of a sign-up wizard was sent twice (a double click, a mobile retry, back and resubmit), and one invite produced two submissions for the same person. Here the server claims an invite once; the guard makes the second click wait for, and show, the first answer.">
      <PageControls settings={settings} setParam={setParam} />
      <div className="columns">
        <div>
          <CreateInvite settings={settings} onCreated={(invite) => setParam("invite", invite.token)} />
          {token && <ClaimForm key={token} token={token} settings={settings} />}
        </div>
        <div>
          <Created
            title="Invites"
            testid="invite-count"
            items={invites}
            render={(invite) => `${invite.email} · ${short(invite.token)} · ${invite.claimId ? `claimed: ${short(invite.claimId)}` : "open"}`}
          />
          <ServerLog pathPart="/claim" />
        </div>
      </div>
    </Page>
  );
}

function CreateInvite({ settings, onCreated }) {
  const submitter = useSubmitter(settings);
  const [email, setEmail] = useState("alexa@example.com");

  async function onSubmit(event) {
    event.preventDefault();
    const result = await submitter.send({ url: "/api/invites", body: { email, ttlSeconds: 3600 } });
    if (result.ok) onCreated(result.body);
  }

  return (
    <form onSubmit={onSubmit} aria-label="Create invite">
      <h3>1. Invite someone</h3>
      <label>
        Email <input name="email" type="email" value={email} onChange={(event) => setEmail(event.target.value)} />
      </label>
      <button type="submit" disabled={settings.guardOn && submitter.pending} aria-busy={submitter.pending}>
        Create invite
      </button>
      <Outcome submitter={submitter} success={(invite) => `Invite for ${invite.email} created.`} />
    </form>
  );
}

function ClaimForm({ token, settings }) {
  const submitter = useSubmitter(settings);
  const [name, setName] = useState("Alexa Roberson");

  function onSubmit(event) {
    event.preventDefault();
    submitter.send({ url: `/api/invites/${token}/claim`, body: { name } });
  }

  return (
    <>
      <form onSubmit={onSubmit} aria-label="Claim invite">
        <h3>2. The invitee completes the wizard</h3>
        <p className="note">
          Invite <code>{short(token)}</code>
        </p>
        <label>
          Full name <input name="fullName" value={name} onChange={(event) => setName(event.target.value)} />
        </label>
        <button type="submit" disabled={settings.guardOn && submitter.pending} aria-busy={submitter.pending}>
          {submitter.pending ? "Submitting…" : "Submit"}
        </button>
      </form>
      <GuardStatus submitter={submitter} />
      <Outcome
        submitter={submitter}
        success={(claim) =>
          claim.idempotent ? `Already claimed: the same submission ${claim.id}.` : `Submitted: submission ${claim.id}.`
        }
      />
    </>
  );
}

// Claim invite (field report 002): a wizard submitted twice. With the guard
// the double submit is one request; submitting the claim again later gets
// the same submission id from the server's atomic, idempotent claim.
import { test } from "node:test";
import assert from "node:assert/strict";
import { screenshot } from "./harness.mjs";
import { UUID_V4, answered, noPageErrors, posts, useDemo } from "./demo.mjs";

const demo = useDemo("memory");

/** Opens the page, creates an invite through its first form, returns the claim form's button. */
async function openClaimForm(hash) {
  const page = await demo.tabs.open(hash);
  await page.getByRole("button", { name: "Create invite" }).click();
  const claim = page.getByRole("form", { name: "Claim invite" });
  await claim.waitFor();
  const [invite] = await demo.server.json("/api/invites");
  return { page, submit: claim.getByRole("button"), token: invite.token };
}

test("a double-submitted claim is one request and one claim; claiming again shows the same id", async () => {
  const { page, submit, token } = await openClaimForm("#/invite");
  await submit.dblclick();
  const done = page.getByTestId("success").filter({ hasText: "Submitted: submission" });
  await done.waitFor();
  const [first] = await answered(demo.server, "/claim", 1);
  assert.match(first.key, UUID_V4);
  assert.equal(first.status, 201);
  const [invite] = await demo.server.json("/api/invites");
  assert.equal(invite.token, token);
  assert.ok(invite.usedAt, "the invite is claimed");
  assert.match(await done.textContent(), new RegExp(invite.claimId));

  // Back and submit again: a new submission (new key), the same claim.
  await submit.click();
  await page.getByTestId("success").filter({ hasText: `Already claimed: the same submission ${invite.claimId}.` }).waitFor();
  const sent = await answered(demo.server, "/claim", 2);
  assert.equal(sent[1].status, 200);
  assert.notEqual(sent[1].key, first.key, "a success replaced the key");
  const [after] = await demo.server.json("/api/invites");
  assert.equal(after.claimId, invite.claimId, "still one claim");
  await screenshot(page, "invite");
  noPageErrors(page);
});

test("a double-submitted claim with the guard off: two requests reach the server", async () => {
  const { page, submit } = await openClaimForm("#/invite?guard=off");
  await submit.dblclick();
  const sent = await answered(demo.server, "/claim", 2);
  assert.ok(sent.every((r) => r.key === null));
  // The server's one conditional UPDATE still keeps it to one claim (its fix
  // for this report): the second request is told the first one's id.
  assert.deepEqual(sent.map((r) => r.status).sort(), [200, 201]);
  const invites = await demo.server.json("/api/invites");
  assert.equal(invites.length, 1);
  await page.getByTestId("success").filter({ hasText: "submission" }).waitFor();
  await screenshot(page, "invite-guard-off");
  noPageErrors(page);
});

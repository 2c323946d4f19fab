// The plain-HTML page: a form guarded by `guard.attach(form)`, no framework.
import { SubmitGuard } from "submit-guard";

const form = document.querySelector("#org");
const attached = document.querySelector("#attached");
const slow = document.querySelector("#slow");
const state = document.querySelector("#state");
const outcome = document.querySelector("#outcome");

const guard = new SubmitGuard();
guard.subscribe(() => {
  state.textContent = guard.state;
});

let detach = null;
function attach() {
  // In test mode the server honours X-Fault: a slow server is where
  // duplicate submissions happen.
  const headers = slow.checked ? { "x-fault": "delay=1000" } : {};
  detach = guard.attach(form, { headers });
}
function reattach() {
  detach?.();
  detach = null;
  if (attached.checked) attach();
}
attached.addEventListener("change", reattach);
slow.addEventListener("change", reattach);
attach();

form.addEventListener("submitguard:success", async (event) => {
  const org = await event.detail.response.json();
  outcome.textContent = `Created ${org.name} (${org.slug}).`;
  refresh();
});
form.addEventListener("submitguard:error", (event) => {
  const error = event.detail.error;
  outcome.textContent = `Failed: ${error.code ?? error.name}: ${error.message}. Submit again to retry with the same key.`;
});

async function refresh() {
  try {
    const orgs = await (await fetch("/api/orgs")).json();
    document.querySelector("#count").textContent = String(orgs.length);
    const list = document.querySelector("#orgs");
    list.replaceChildren(
      ...orgs.map((org) => {
        const item = document.createElement("li");
        item.textContent = `${org.name} (${org.slug})`;
        return item;
      }),
    );
  } catch {
    // the server is away: keep the last view
  }
}
refresh();
setInterval(refresh, 500);
window.guard = guard;

// The form every plain-JS consumer app renders (webpack, Rollup, esbuild, the
// <script type="module"> page): one field and a button whose submit posts
// JSON to /api/orgs through a guard. `api` in the page's query string is the
// server's origin when the page is served from another one.
export function mountForm(root, SubmitGuard) {
  root.innerHTML = `
    <form aria-label="Create organization">
      <input name="name" value="Acme" aria-label="Organization name">
      <button type="submit">Create</button>
    </form>
    <output id="result"></output>`;
  const form = root.querySelector("form");
  const result = root.querySelector("#result");
  const guard = new SubmitGuard();
  const api = new URLSearchParams(location.search).get("api") ?? "";
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const response = await guard.fetch(`${api}/api/orgs`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ name: new FormData(form).get("name") }),
      });
      result.textContent = `created ${response.status}`;
    } catch (error) {
      result.textContent = `error ${error.code ?? error.name}: ${error.message}`;
    }
  });
  window.consumerReady = true;
}

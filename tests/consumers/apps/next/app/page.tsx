import { CreateOrg } from "./create-org";

// A server component: the page is rendered on the server (prerendered at
// build), the form with it, and hydrated in the browser.
export default function Page() {
  return (
    <main>
      <h1>Create organization</h1>
      <CreateOrg />
    </main>
  );
}

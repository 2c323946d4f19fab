// The demo: one page per real duplicate-submission bug, each with the guard
// on (the fix) or off (the bug), against the reference server.
import { usePoll } from "./poll.js";
import { useRoute } from "./route.js";
import { readSettings } from "./submit.js";
import { InvitePage } from "./pages/Invite.jsx";
import { OrgsPage } from "./pages/Orgs.jsx";
import { PayPage } from "./pages/Pay.jsx";
import { QrPage } from "./pages/Qr.jsx";

const PAGES = {
  "/orgs": { title: "Create organization", Page: OrgsPage, about: "ten fast clicks or a held Enter key make one organization, not several" },
  "/invite": { title: "Claim invite", Page: InvitePage, about: "a sign-up wizard sent twice uses its invite once" },
  "/qr": { title: "Table QR", Page: QrPage, about: "a page that opens a table session as it loads opens one, even when React runs its code twice" },
  "/pay": { title: "Pay order", Page: PayPage, about: "paying one order from two tabs charges once, and both tabs show the payment" },
};

export function App() {
  const { path, params, setParam } = useRoute();
  const page = PAGES[path];
  return (
    <>
      <header>
        <h1>
          <a href="#/">submit-guard demo</a>
        </h1>
        <nav aria-label="Pages">
          {Object.entries(PAGES).map(([href, { title }]) => (
            <a key={href} href={`#${href}`} aria-current={href === path ? "page" : undefined}>
              {title}
            </a>
          ))}
        </nav>
        <ResetButton />
      </header>
      {page ? (
        <page.Page key={path} settings={readSettings(params)} setParam={setParam} params={params} />
      ) : (
        <Home />
      )}
    </>
  );
}

function Home() {
  return (
    <main>
      <h2>One click, one effect</h2>
      <p>
        Each page reproduces a real duplicate-submission bug against the reference server. Turn the guard off to see the
        bug (plain <code>fetch</code>, no key), on to see the fix (<code>SubmitGuard</code> through{" "}
        <code>useSubmitGuard</code>). The server answers after a second by default, like a busy production server:
        that is the window in which duplicates happen. The lists on the right are what the server really created.
      </p>
      <ul className="pages">
        {Object.entries(PAGES).map(([href, { title, about }]) => (
          <li key={href}>
            <a href={`#${href}`}>{title}</a>: {about}
          </li>
        ))}
        <li>
          <a href="/plain.html">Plain HTML form</a>: no framework, <code>guard.attach(form)</code>
        </li>
      </ul>
    </main>
  );
}

/** Clears the server's data (test mode only: `POST /api/_reset`). */
function ResetButton() {
  const testMode = Array.isArray(usePoll("/api/_requests", 5000));
  if (!testMode) return null;
  return (
    <button type="button" className="reset" onClick={() => fetch("/api/_reset", { method: "POST" })}>
      Reset demo data
    </button>
  );
}

// Field report 004: a payment started from two tabs completed one order
// twice (find-then-update). The server allows one payment per order; with
// the guard, both tabs also send the same key, so the second tab waits for
// the first and gets its payment instead of an error.
import { Created, GuardStatus, Outcome, Page, PageControls, ServerLog, short } from "../controls.jsx";
import { usePoll } from "../poll.js";
import { useSubmitter } from "../submit.js";

const ITEMS = [
  { name: "Margherita", qty: 1 },
  { name: "Lemonade", qty: 2 },
];

export function PayPage({ settings, setParam, params }) {
  const orderId = params.get("order");
  return (
    <Page title="Pay order" report="Field report 004: an order paid from two tabs was completed twice.">
      <PageControls settings={settings} setParam={setParam} />
      <div className="columns">
        <div>
          <NewOrder settings={settings} onCreated={(order) => setParam("order", order.id)} />
          {orderId && <PayOrder key={orderId} orderId={orderId} settings={settings} />}
        </div>
        <div>
          {orderId && <Payments orderId={orderId} />}
          <ServerLog pathPart="/pay" />
        </div>
      </div>
    </Page>
  );
}

function NewOrder({ settings, onCreated }) {
  const submitter = useSubmitter(settings);
  async function onClick() {
    const result = await submitter.send({ url: "/api/orders", body: { items: ITEMS } });
    if (result.ok) onCreated(result.body);
  }
  return (
    <div>
      <button type="button" onClick={onClick} disabled={settings.guardOn && submitter.pending} aria-busy={submitter.pending}>
        New order
      </button>
      <Outcome submitter={submitter} success={(order) => `Order ${short(order.id)} created.`} />
    </div>
  );
}

function PayOrder({ orderId, settings }) {
  const submitter = useSubmitter(settings);
  // One key per order rather than per guard: every tab paying this order
  // sends the same key, so the server runs the payment once and replays it.
  const key = `pay-${orderId}`;

  function onSubmit(event) {
    event.preventDefault();
    submitter.send({
      url: `/api/orders/${orderId}/pay`,
      body: {},
      headers: settings.guardOn ? { "Idempotency-Key": key } : {},
    });
  }

  return (
    <>
      <form onSubmit={onSubmit} aria-label="Pay order">
        <h3>Order {short(orderId)}</h3>
        <ul>
          {ITEMS.map((item) => (
            <li key={item.name}>
              {item.qty} × {item.name}
            </li>
          ))}
        </ul>
        <button type="submit" disabled={settings.guardOn && submitter.pending} aria-busy={submitter.pending}>
          {submitter.pending ? "Paying…" : "Pay"}
        </button>{" "}
        <a href={window.location.hash} target="_blank" rel="noreferrer">
          Open this order in another tab
        </a>
      </form>
      <GuardStatus submitter={submitter} keyNote={{ key, note: "(per order: every tab sends it)" }} />
      <Outcome submitter={submitter} success={(payment) => `Paid: payment ${payment.paymentId}.`} />
    </>
  );
}

function Payments({ orderId }) {
  const payments = usePoll("/api/payments");
  const mine = payments?.filter((p) => p.orderId === orderId) ?? null;
  return <Created title="Payments for this order" testid="payment-count" items={mine} render={(p) => short(p.paymentId)} />;
}

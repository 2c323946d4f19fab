// Field report 004: a payment started from two tabs completed one order
// twice (find-then-update). The server allows one payment per order, so
// without the guard the second tab gets an error for a payment that went
// through. With the guard's `crossTab`, one tab at a time pays this order:
// the other sends nothing, waits, and shows the same payment.
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
    <Page title="Pay order" report="The bug: the same order open in two tabs, “Pay” pressed in both, and the order was paid twice. Open this page in a second tab and pay from both: with the guard one tab pays, the other waits and shows the same payment.">
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
  // The same name in every tab of this browser: one submission among them.
  const submitter = useSubmitter(settings, { name: `pay-${orderId}`, crossTab: true });

  function onSubmit(event) {
    event.preventDefault();
    submitter.send({ url: `/api/orders/${orderId}/pay`, body: {} });
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
      <GuardStatus submitter={submitter} />
      {settings.guardOn && (
        <p className="note">
          <code>crossTab</code>: while another tab of this browser pays this order, this one waits for its result.
        </p>
      )}
      <Outcome submitter={submitter} success={(payment) => `Paid: payment ${payment.paymentId}.`} />
    </>
  );
}

function Payments({ orderId }) {
  const payments = usePoll("/api/payments");
  const mine = payments?.filter((p) => p.orderId === orderId) ?? null;
  return <Created title="Payments for this order" testid="payment-count" items={mine} render={(p) => short(p.paymentId)} />;
}

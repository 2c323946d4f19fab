// Pay order (field report 004): the same order paid from two tabs at once.
// The server allows one payment per order. With the guard (`crossTab`, named
// after the order) one tab pays and the other sends nothing, waits, and
// settles with the same payment; without it the second tab's request is
// refused with 409 and its user sees an error for a payment that went through.
import { test } from "node:test";
import assert from "node:assert/strict";
import { eventually, screenshot } from "./harness.mjs";
import { UUID_V4, answered, noPageErrors, useDemo } from "./demo.mjs";

const demo = useDemo("memory");

/** One tab creates an order, a second tab opens the same URL; both show the Pay button. */
async function twoTabs(hash) {
  const context = await demo.tabs.context();
  const a = await demo.tabs.open(hash, context);
  await a.getByRole("button", { name: "New order" }).click();
  await a.getByRole("form", { name: "Pay order" }).waitFor();
  const b = await demo.tabs.open(new URL(a.url()).hash, context);
  const [order] = await demo.server.json("/api/orders");
  return { a, b, order };
}

const payButton = (page) => page.getByRole("form", { name: "Pay order" }).getByRole("button");

test("two tabs pay one order at once: one request, one payment, both tabs show it", async () => {
  const { a, b, order } = await twoTabs("#/pay");
  await Promise.all([payButton(a).click(), payButton(b).click()]);
  const paid = (page) => page.getByTestId("success").filter({ hasText: "Paid: payment" });
  await Promise.all([paid(a).waitFor(), paid(b).waitFor()]);

  const [request] = await answered(demo.server, "/pay", 1);
  assert.match(request.key, UUID_V4);
  assert.equal(request.status, 201);
  const payments = await demo.server.json("/api/payments");
  assert.equal(payments.length, 1);
  const [payment] = payments;
  assert.equal(payment.orderId, order.id);
  for (const page of [a, b]) {
    assert.match(await paid(page).textContent(), new RegExp(payment.paymentId));
    assert.equal(await page.getByTestId("state").textContent(), "succeeded");
    await eventually(async () => (await page.getByTestId("payment-count").textContent()) === "1 created");
  }
  await screenshot(a, "pay");
  await screenshot(b, "pay-tab-2");
  noPageErrors(a, b);
});

test("two tabs without the guard: both requests run; the second tab gets 409 already paid", async () => {
  const { a, b } = await twoTabs("#/pay?guard=off");
  await Promise.all([payButton(a).click(), payButton(b).click()]);
  const sent = await answered(demo.server, "/pay", 2);
  assert.ok(sent.every((r) => r.key === null));
  assert.deepEqual(sent.map((r) => r.status).sort(), [201, 409]);
  // The server's UNIQUE (order_id) still keeps it to one payment; the user of
  // the other tab is shown an error for a payment that went through.
  assert.equal((await demo.server.json("/api/payments")).length, 1);
  const alerts = [a, b].map((page) => page.getByRole("alert").filter({ hasText: "already has payment" }));
  await Promise.any(alerts.map((alert) => alert.waitFor()));
  assert.equal((await alerts[0].count()) + (await alerts[1].count()), 1);
  await screenshot(a, "pay-guard-off");
  await screenshot(b, "pay-guard-off-tab-2");
  noPageErrors(a, b);
});

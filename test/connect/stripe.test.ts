/** Stripe webhooks at /connect/stripe: Stripe-Signature (tolerance, rotation), invoices and subscriptions (SPEC section 11). */
import { describe, expect, it } from "vitest";
import subscriptionFixture from "../fixtures/connect/stripe-customer-subscription-updated.json?raw";
import paidFixture from "../fixtures/connect/stripe-invoice-paid.json?raw";
import failedFixture from "../fixtures/connect/stripe-invoice-payment-failed.json?raw";
import { contactOf, eventsNamed, postStripe, stripeSignature, variant, writtenRows } from "../helpers/connect";

/** A fixture for another customer: its email, Stripe customer id and event id replaced. */
const forCustomer = (fixture: string, tag: string) =>
  variant(fixture, {
    "jenny.rosen@example.com": `stripe-${tag}@example.com`,
    cus_RtestFailed001: `cus_${tag}`,
    evt_1QfailedInvoice000001: `evt_failed_${tag}`,
    evt_1QpaidInvoice00000001: `evt_paid_${tag}`,
    evt_1QsubUpdated000000001: `evt_sub_${tag}`,
  });

describe("a Stripe event is accepted only with a fresh Stripe-Signature", () => {
  it("a header from the stripe package is accepted", async () => {
    const res = await postStripe(forCustomer(failedFixture, "sig-ok"));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(await eventsNamed("stripe-sig-ok@example.com", "payment_failed")).toHaveLength(1);
  });

  it("during a secret rotation, a header whose second v1 matches is accepted", async () => {
    const body = forCustomer(failedFixture, "rotated");
    const t = Math.floor(Date.now() / 1000);
    const old = await stripeSignature(body, { secret: "whsec_the_old_secret_000", timestamp: t });
    const current = await stripeSignature(body, { timestamp: t });
    const header = `t=${t},v1=${old.split("v1=")[1]},v1=${current.split("v1=")[1]}`;
    expect((await postStripe(body, header)).status).toBe(200);
  });

  it.each([
    ["a tampered body", async (b: string) => ({ body: b.replace("1900", "1"), header: await stripeSignature(b) })],
    ["a wrong secret", async (b: string) => ({ body: b, header: await stripeSignature(b, { secret: "whsec_wrong" }) })],
    [
      "a timestamp 6 minutes old",
      async (b: string) => ({ body: b, header: await stripeSignature(b, { timestamp: Math.floor(Date.now() / 1000) - 360 }) }),
    ],
    ["no Stripe-Signature header", async (b: string) => ({ body: b, header: null })],
    ["a header without v1", async (b: string) => ({ body: b, header: `t=${Math.floor(Date.now() / 1000)},v0=abc` })],
  ])("%s is refused with 401 and writes nothing", async (_, make) => {
    const { body, header } = await make(forCustomer(failedFixture, "forged"));
    const before = await writtenRows();
    const res = await postStripe(body, header);
    expect(res.status).toBe(401);
    expect(await writtenRows()).toBe(before);
    expect(await contactOf("stripe-forged@example.com")).toBeNull();
  });
});

describe("Stripe events become Nurture events and attributes", () => {
  it("invoice.payment_failed is a payment_failed with the amount, next attempt and hosted invoice URL, and records stripe_customer_id", async () => {
    expect((await postStripe(forCustomer(failedFixture, "failed"))).status).toBe(200);
    const [failed] = await eventsNamed("stripe-failed@example.com", "payment_failed");
    expect(failed).toMatchObject({ id: "stripe_evt_failed_failed", value: null, ts: 1794300000 * 1000 });
    expect(failed?.properties).toEqual({
      invoice_id: "in_1QfailedInvoice0001",
      subscription_id: "sub_1QtestSubscription01",
      amount: 19,
      currency: "EUR",
      hosted_invoice_url: "https://invoice.stripe.com/i/acct_1Test/test_YWNjdF8xVGVzdA?s=ap",
      next_payment_attempt: new Date(1794559100 * 1000).toISOString(),
      attempt_count: 1,
      platform: "stripe",
    });
    const contact = await contactOf("stripe-failed@example.com");
    expect(contact.attributes).toMatchObject({ stripe_customer_id: "cus_failed" });
    // A payment is not an order: it never adds to total_spent.
    expect(contact).toMatchObject({ orders_count: 0, total_spent: 0 });
  });

  it("invoice.paid is a payment_succeeded with the amount paid", async () => {
    expect((await postStripe(forCustomer(paidFixture, "paid"))).status).toBe(200);
    const [paid] = await eventsNamed("stripe-paid@example.com", "payment_succeeded");
    expect(paid?.properties).toMatchObject({ amount: 19, currency: "EUR", invoice_id: "in_1QfailedInvoice0001" });
  });

  it("amounts of zero-decimal currencies are not divided", async () => {
    const yen = variant(forCustomer(failedFixture, "yen"), { '"currency": "eur"': '"currency": "jpy"' });
    expect((await postStripe(yen)).status).toBe(200);
    const [failed] = await eventsNamed("stripe-yen@example.com", "payment_failed");
    expect(failed?.properties).toMatchObject({ amount: 1900, currency: "JPY" });
  });

  it("customer.subscription.updated sets renewal_at, plan and renewal_amount on the contact an invoice tied to the customer", async () => {
    await postStripe(forCustomer(failedFixture, "renewing"));
    const res = await postStripe(forCustomer(subscriptionFixture, "renewing"));
    expect(res.status).toBe(200);
    const contact = await contactOf("stripe-renewing@example.com");
    expect(contact.attributes).toMatchObject({
      renewal_at: new Date(1796978300 * 1000).toISOString(),
      plan: "Tea Club",
      renewal_amount: 19,
      currency: "EUR",
      stripe_subscription_id: "sub_1QtestSubscription01",
      subscription_status: "active",
    });
    const changed = await eventsNamed("stripe-renewing@example.com", "attribute_changed");
    expect(changed.map((e) => e.properties.attribute)).toContain("renewal_at");
  });

  it("a subscription set to cancel at period end removes renewal_at", async () => {
    await postStripe(forCustomer(failedFixture, "cancelling"));
    await postStripe(forCustomer(subscriptionFixture, "cancelling"));
    const cancelling = variant(forCustomer(subscriptionFixture, "cancelling"), {
      '"cancel_at_period_end": false': '"cancel_at_period_end": true',
      evt_sub_cancelling: "evt_sub_cancelling_2",
    });
    expect((await postStripe(cancelling)).status).toBe(200);
    expect((await contactOf("stripe-cancelling@example.com")).attributes.renewal_at).toBeUndefined();
  });

  it("a subscription of a customer no invoice has named yet is answered 202 and ignored", async () => {
    const before = await writtenRows();
    const res = await postStripe(forCustomer(subscriptionFixture, "stranger"));
    expect(res.status).toBe(202);
    expect(res.body.detail).toBe("no contact has stripe_customer_id cus_stranger yet");
    expect(await writtenRows()).toBeLessThanOrEqual(before + 1);
  });

  it("an event type it does not map is answered 202 and ignored", async () => {
    const body = JSON.stringify({
      id: "evt_other",
      object: "event",
      type: "charge.refunded",
      created: 1794300000,
      data: { object: { id: "ch_1" } },
    });
    const res = await postStripe(body);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ result: "ignored", detail: "unknown topic charge.refunded" });
  });
});

describe("a Stripe event is processed once", () => {
  it("a redelivery of the same event id records one payment_failed", async () => {
    const body = forCustomer(failedFixture, "twice");
    expect((await postStripe(body)).body.result).toBe("processed");
    expect((await postStripe(body)).body.result).toBe("duplicate");
    expect(await eventsNamed("stripe-twice@example.com", "payment_failed")).toHaveLength(1);
  });
});

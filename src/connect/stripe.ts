/**
 * Stripe webhooks (`POST /connect/stripe`): `Stripe-Signature: t=…,v1=…` signs `t.body` with
 * STRIPE_WEBHOOK_SECRET (HMAC-SHA256, hex); the timestamp must be within 5 minutes, and any `v1` may match
 * (Stripe signs with the old and the new secret while one is rolled). The Stripe event id is the delivery id.
 * Invoices carry the customer's email: `invoice.payment_failed` → `payment_failed`, `invoice.paid` →
 * `payment_succeeded`, and both record the `stripe_customer_id` attribute, by which
 * `customer.subscription.updated` (which names the customer only by id) finds the contact for its `renewal_at`,
 * `plan` and `renewal_amount` attributes. Amounts arrive in minor units and are converted with the currency's
 * decimals (Intl).
 */
import { z } from "zod";
import { type Connector, type Mapping, type MappingContext, parseWebhookJson, payloadProblem } from "./connector";
import { anyHmacSignatureValid } from "./signature";

/** How far a signature's timestamp may be from now (Stripe's own libraries use the same). */
export const STRIPE_TOLERANCE_MS = 5 * 60_000;

const event = z
  .object({
    id: z.string().min(1).max(255),
    type: z.string(),
    created: z.number().nullish(),
    data: z.object({ object: z.record(z.string(), z.unknown()) }).passthrough(),
  })
  .passthrough();

const invoice = z
  .object({
    id: z.string().nullish(),
    customer: z.union([z.string(), z.object({ id: z.string() }).passthrough()]).nullish(),
    customer_email: z.string().nullish(),
    amount_due: z.number().int().nullish(),
    amount_paid: z.number().int().nullish(),
    currency: z.string().nullish(),
    hosted_invoice_url: z.string().nullish(),
    next_payment_attempt: z.number().nullish(),
    attempt_count: z.number().int().nullish(),
    subscription: z.union([z.string(), z.object({ id: z.string() }).passthrough()]).nullish(),
    // Since API version 2025-03-31 the subscription is under parent.subscription_details.
    parent: z
      .object({ subscription_details: z.object({ subscription: z.string().nullish() }).passthrough().nullish() })
      .passthrough()
      .nullish()
      .catch(null),
  })
  .passthrough();

const price = z
  .object({
    id: z.string().nullish(),
    nickname: z.string().nullish(),
    lookup_key: z.string().nullish(),
    unit_amount: z.number().int().nullish(),
    currency: z.string().nullish(),
  })
  .passthrough();

const subscription = z
  .object({
    id: z.string(),
    customer: z.union([z.string(), z.object({ id: z.string() }).passthrough()]),
    status: z.string().nullish(),
    // Before API version 2025-03-31 the period is on the subscription; since then on each item.
    current_period_end: z.number().nullish(),
    cancel_at_period_end: z.boolean().nullish(),
    items: z
      .object({
        data: z.array(
          z
            .object({
              current_period_end: z.number().nullish(),
              quantity: z.number().int().nullish(),
              price: price.nullish(),
              plan: price.nullish(),
            })
            .passthrough(),
        ),
      })
      .passthrough()
      .nullish(),
  })
  .passthrough();

/** A Stripe amount in minor units as a decimal amount of its currency (cents → euros; yen stay yen). */
export function majorUnits(amount: number, currency: string): number {
  let digits = 2;
  try {
    digits =
      new Intl.NumberFormat("en", { style: "currency", currency: currency.toUpperCase() }).resolvedOptions().maximumFractionDigits ?? 2;
  } catch {
    // Not an ISO currency Intl knows: Stripe's default of two decimals.
  }
  return Math.round(amount) / 10 ** digits;
}

const idOf = (v: string | { id: string } | null | undefined) => (typeof v === "string" ? v : (v?.id ?? null));
const isoFromSeconds = (s: number | null | undefined) =>
  typeof s === "number" && Number.isFinite(s) ? new Date(s * 1000).toISOString() : null;

function mapInvoice(eventId: string, name: "payment_failed" | "payment_succeeded", object: unknown, ts: number): Mapping {
  const parsed = invoice.safeParse(object);
  if (!parsed.success) return { kind: "ignored", reason: payloadProblem(parsed.error) };
  const inv = parsed.data;
  if (!inv.customer_email) return { kind: "ignored", reason: `invoice ${inv.id ?? "?"} has no customer_email` };
  const currency = inv.currency?.toUpperCase() ?? null;
  const minor = name === "payment_failed" ? inv.amount_due : inv.amount_paid;
  const amount = typeof minor === "number" && currency ? majorUnits(minor, currency) : null;
  const customerId = idOf(inv.customer);
  return {
    kind: "mapped",
    contact: { key: { email: inv.customer_email }, attributes: customerId ? { stripe_customer_id: customerId } : {} },
    event: {
      id: `stripe_${eventId}`,
      name,
      properties: {
        invoice_id: inv.id ?? null,
        subscription_id: idOf(inv.subscription) ?? inv.parent?.subscription_details?.subscription ?? null,
        amount,
        currency,
        // The failed-payment flow's "update your card" button: Stripe's hosted invoice page takes a new card.
        hosted_invoice_url: inv.hosted_invoice_url ?? null,
        ...(name === "payment_failed"
          ? { next_payment_attempt: isoFromSeconds(inv.next_payment_attempt), attempt_count: inv.attempt_count ?? null }
          : {}),
        platform: "stripe",
      },
      // Not an order: a payment never adds to total_spent or attributed revenue.
      value: null,
      ts,
    },
  };
}

function mapSubscription(object: unknown): Mapping {
  const parsed = subscription.safeParse(object);
  if (!parsed.success) return { kind: "ignored", reason: payloadProblem(parsed.error) };
  const sub = parsed.data;
  const items = sub.items?.data ?? [];
  const periodEnd = sub.current_period_end ?? items.find((i) => i.current_period_end)?.current_period_end;
  const first = items[0];
  const firstPrice = first?.price ?? first?.plan;
  const plan = firstPrice?.nickname || firstPrice?.lookup_key || firstPrice?.id || null;
  const currency = firstPrice?.currency?.toUpperCase() ?? null;
  const minor = items.reduce((sum, i) => sum + ((i.price ?? i.plan)?.unit_amount ?? 0) * (i.quantity ?? 1), 0);
  const attributes: Record<string, unknown> = {
    stripe_subscription_id: sub.id,
    subscription_status: sub.status ?? null,
    renewal_at: sub.cancel_at_period_end ? null : isoFromSeconds(periodEnd),
    plan,
  };
  if (currency) {
    attributes.renewal_amount = majorUnits(minor, currency);
    attributes.currency = currency;
  }
  return { kind: "mapped", contact: { key: { stripeCustomerId: idOf(sub.customer) as string }, attributes } };
}

/** The parts of a Stripe-Signature header: its timestamp (seconds) and every v1 signature. */
export function parseStripeSignature(header: string): { timestamp: number | null; signatures: string[] } {
  let timestamp: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(",")) {
    const [key, value] = part.split("=", 2).map((s) => s?.trim() ?? "");
    if (key === "t" && /^\d{1,12}$/.test(value ?? "")) timestamp = Number(value);
    else if (key === "v1" && value) signatures.push(value);
  }
  return { timestamp, signatures };
}

/** The Stripe connector. */
export const stripe: Connector = {
  platform: "stripe",
  secretName: "STRIPE_WEBHOOK_SECRET",
  topics: ["invoice.payment_failed", "invoice.paid", "customer.subscription.updated"],
  async verify(secret, body, headers, now) {
    const header = headers.get("stripe-signature");
    if (!header) return { ok: false, reason: "missing_signature" };
    const { timestamp, signatures } = parseStripeSignature(header);
    if (timestamp === null || signatures.length === 0) return { ok: false, reason: "missing_signature" };
    if (!(await anyHmacSignatureValid(secret, `${timestamp}.${body}`, signatures))) return { ok: false, reason: "bad_signature" };
    if (Math.abs(now - timestamp * 1000) > STRIPE_TOLERANCE_MS) return { ok: false, reason: "stale" };
    // The event id is read after verification, from the signed body.
    const json = parseWebhookJson(body);
    const parsed = event.safeParse(json.ok ? json.value : null);
    return { ok: true, delivery: { id: parsed.success ? parsed.data.id : "", topic: parsed.success ? parsed.data.type : "" } };
  },
  map(delivery, payload, context: MappingContext) {
    const parsed = event.safeParse(payload);
    if (!parsed.success) return { kind: "ignored", reason: payloadProblem(parsed.error) };
    const e = parsed.data;
    const ts = typeof e.created === "number" ? e.created * 1000 : context.now;
    switch (delivery.topic) {
      case "invoice.payment_failed":
        return mapInvoice(e.id, "payment_failed", e.data.object, ts);
      case "invoice.paid":
        return mapInvoice(e.id, "payment_succeeded", e.data.object, ts);
      case "customer.subscription.updated":
        return mapSubscription(e.data.object);
      default:
        return { kind: "ignored", reason: `unknown topic ${delivery.topic || "(none)"}` };
    }
  },
};

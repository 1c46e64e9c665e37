/**
 * Shopify webhooks (`POST /connect/shopify`): `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body
 * with SHOPIFY_WEBHOOK_SECRET; `X-Shopify-Topic` names the topic and `X-Shopify-Webhook-Id` the delivery (the
 * same on every retry). Orders become `order_placed` (money: they are the shop's own record), checkouts
 * `checkout_started` with the recovery URL, customers the contact and its consent, fulfilments `order_fulfilled`.
 * Payloads are read leniently: unknown fields are allowed, only what the mapping needs is checked.
 */
import { z } from "zod";
import {
  type Connector,
  type ContactUpdate,
  type Delivery,
  instant,
  type LineItem,
  MAX_ITEMS,
  type Mapping,
  type MappingContext,
  type MarketingConsent,
  money,
  payloadProblem,
  personName,
  platformId,
  replenishDays,
  shortestReplenishDays,
  usableDeliveryId,
} from "./connector";
import { bodyDigest, hmacSignatureValid } from "./signature";

const marketingConsent = z.object({ state: z.string().nullish(), consent_updated_at: z.string().nullish() }).passthrough().nullish();

const customer = z
  .object({
    id: platformId.nullish(),
    email: z.string().nullish(),
    first_name: personName,
    last_name: personName,
    email_marketing_consent: marketingConsent,
    accepts_marketing: z.boolean().nullish(),
    accepts_marketing_updated_at: z.string().nullish(),
  })
  .passthrough();

const lineItem = z
  .object({
    product_id: platformId.nullish(),
    variant_id: platformId.nullish(),
    sku: z.string().nullish(),
    title: z.string().nullish(),
    name: z.string().nullish(),
    quantity: z.number().int().nonnegative().default(1),
    price: money,
    image_url: z.string().nullish(),
    image: z.object({ src: z.string().nullish() }).passthrough().nullish(),
    url: z.string().nullish(),
    properties: z
      .array(z.object({ name: z.string(), value: z.unknown() }).passthrough())
      .nullish()
      .catch(null),
  })
  .passthrough();

const order = z
  .object({
    id: platformId,
    name: z.string().nullish(),
    email: z.string().nullish(),
    contact_email: z.string().nullish(),
    created_at: z.string().nullish(),
    currency: z.string().nullish(),
    total_price: money,
    order_status_url: z.string().nullish(),
    buyer_accepts_marketing: z.boolean().nullish(),
    customer: customer.nullish(),
    line_items: z.array(lineItem).default([]),
    fulfillments: z
      .array(z.object({ tracking_url: z.string().nullish(), tracking_number: z.string().nullish() }).passthrough())
      .nullish()
      .catch(null),
  })
  .passthrough();

const checkout = z
  .object({
    id: platformId.nullish(),
    token: z.string().nullish(),
    email: z.string().nullish(),
    created_at: z.string().nullish(),
    updated_at: z.string().nullish(),
    completed_at: z.string().nullish(),
    currency: z.string().nullish(),
    total_price: money,
    abandoned_checkout_url: z.string().nullish(),
    buyer_accepts_marketing: z.boolean().nullish(),
    customer: customer.nullish(),
    line_items: z.array(lineItem).default([]),
  })
  .passthrough();

type ShopifyLineItem = z.infer<typeof lineItem>;
type ShopifyCustomer = z.infer<typeof customer>;

/** A Shopify line item as the library's templates read it. */
function toLineItem(item: ShopifyLineItem): LineItem {
  const replenish = item.properties?.find((p) => p.name === "replenish_days" || p.name === "_replenish_days");
  return {
    product_id: item.product_id ?? null,
    variant_id: item.variant_id ?? null,
    sku: item.sku || null,
    name: item.title || item.name || "Item",
    quantity: item.quantity,
    price: item.price,
    image_url: item.image_url || item.image?.src || null,
    url: item.url || null,
    replenish_days: replenishDays(replenish?.value),
  };
}

/** The customer's marketing consent: `email_marketing_consent` where Shopify sends it, else the older `accepts_marketing`. */
function marketingOf(c: ShopifyCustomer | null | undefined, buyerAccepts: boolean | null | undefined): MarketingConsent {
  const state = c?.email_marketing_consent?.state;
  if (state) {
    const at = instant(c?.email_marketing_consent?.consent_updated_at, Number.NaN);
    const known = Number.isFinite(at) ? at : null;
    if (state === "subscribed") return { state: "opted_in", at: known };
    if (state === "unsubscribed") return { state: "opted_out", at: known };
    return { state: "unknown", at: null };
  }
  const accepts = c?.accepts_marketing ?? buyerAccepts;
  const at = instant(c?.accepts_marketing_updated_at, Number.NaN);
  // accepts_marketing false only says "not opted in", never "opted out".
  return accepts ? { state: "opted_in", at: Number.isFinite(at) ? at : null } : { state: "unknown", at: null };
}

/** A Shopify cart permalink that puts the same variants back in the cart: the replenishment flow's reorder link. */
function reorderUrl(shopUrl: string | undefined, items: LineItem[]): string | null {
  const variants = items.filter((i) => i.variant_id && /^\d+$/.test(i.variant_id));
  if (!shopUrl || variants.length === 0) return null;
  return `${shopUrl.replace(/\/+$/, "")}/cart/${variants.map((i) => `${i.variant_id}:${Math.max(1, i.quantity)}`).join(",")}`;
}

function contactOf(email: string, c: ShopifyCustomer | null | undefined, buyerAccepts: boolean | null | undefined): ContactUpdate {
  return {
    key: { email },
    ...(c?.first_name ? { firstName: c.first_name } : {}),
    ...(c?.last_name ? { lastName: c.last_name } : {}),
    attributes: c?.id ? { shopify_customer_id: c.id } : {},
    marketing: marketingOf(c, buyerAccepts),
  };
}

function mapOrder(delivery: Delivery, payload: unknown, context: MappingContext, fulfilled: boolean): Mapping {
  const parsed = order.safeParse(payload);
  if (!parsed.success) return { kind: "ignored", reason: payloadProblem(parsed.error) };
  const o = parsed.data;
  const email = o.email || o.contact_email || o.customer?.email;
  if (!email) return { kind: "ignored", reason: `order ${o.id} has no email` };
  const items = o.line_items.slice(0, MAX_ITEMS).map(toLineItem);
  const common = {
    order_id: o.id,
    order_number: o.name ?? null,
    currency: o.currency ?? null,
    items,
    order_url: o.order_status_url ?? null,
    platform: "shopify",
  };
  if (fulfilled) {
    const tracking = o.fulfillments?.find((f) => f.tracking_url);
    return {
      kind: "mapped",
      contact: contactOf(email, o.customer, null),
      event: {
        id: `shopify_${delivery.id}`,
        name: "order_fulfilled",
        properties: { ...common, tracking_url: tracking?.tracking_url ?? null, tracking_number: tracking?.tracking_number ?? null },
        value: null,
        ts: context.now,
      },
    };
  }
  return {
    kind: "mapped",
    contact: contactOf(email, o.customer, o.buyer_accepts_marketing),
    event: {
      // Named by the order, not the delivery: an order counts once in total_spent however Shopify delivers it.
      id: `shopify_order_${o.id}`,
      name: "order_placed",
      properties: {
        ...common,
        value: o.total_price,
        reorder_url: reorderUrl(context.shopUrl, items),
        replenish_days: shortestReplenishDays(items),
      },
      value: o.total_price,
      ts: instant(o.created_at, context.now),
    },
  };
}

function mapCheckout(delivery: Delivery, payload: unknown, context: MappingContext): Mapping {
  const parsed = checkout.safeParse(payload);
  if (!parsed.success) return { kind: "ignored", reason: payloadProblem(parsed.error) };
  const ch = parsed.data;
  if (ch.completed_at) return { kind: "ignored", reason: "checkout completed: its order arrives as orders/create" };
  const email = ch.email || ch.customer?.email;
  if (!email) return { kind: "ignored", reason: "checkout has no email yet" };
  const items = ch.line_items.slice(0, MAX_ITEMS).map(toLineItem);
  return {
    kind: "mapped",
    contact: contactOf(email, ch.customer, ch.buyer_accepts_marketing),
    event: {
      id: `shopify_${delivery.id}`,
      name: "checkout_started",
      properties: {
        checkout_id: ch.id ?? ch.token ?? null,
        value: ch.total_price,
        currency: ch.currency ?? null,
        items,
        abandoned_checkout_url: ch.abandoned_checkout_url ?? null,
        platform: "shopify",
      },
      value: null,
      ts: instant(ch.updated_at ?? ch.created_at, context.now),
    },
  };
}

function mapCustomer(payload: unknown): Mapping {
  const parsed = customer.safeParse(payload);
  if (!parsed.success) return { kind: "ignored", reason: payloadProblem(parsed.error) };
  const c = parsed.data;
  if (!c.email) return { kind: "ignored", reason: `customer ${c.id ?? "?"} has no email` };
  return { kind: "mapped", contact: contactOf(c.email, c, null) };
}

/** The Shopify connector. */
export const shopify: Connector = {
  platform: "shopify",
  secretName: "SHOPIFY_WEBHOOK_SECRET",
  topics: ["orders/create", "orders/fulfilled", "checkouts/create", "checkouts/update", "customers/create", "customers/update"],
  async verify(secret, body, headers) {
    const signature = headers.get("x-shopify-hmac-sha256");
    if (!signature) return { ok: false, reason: "missing_signature" };
    if (!(await hmacSignatureValid(secret, body, signature, "base64"))) return { ok: false, reason: "bad_signature" };
    const id = usableDeliveryId(headers.get("x-shopify-webhook-id")) ?? usableDeliveryId(headers.get("x-shopify-event-id"));
    return { ok: true, delivery: { id: id || (await bodyDigest(body)), topic: headers.get("x-shopify-topic")?.trim() ?? "" } };
  },
  map(delivery, payload, context) {
    switch (delivery.topic) {
      case "orders/create":
        return mapOrder(delivery, payload, context, false);
      case "orders/fulfilled":
        return mapOrder(delivery, payload, context, true);
      case "checkouts/create":
      case "checkouts/update":
        return mapCheckout(delivery, payload, context);
      case "customers/create":
      case "customers/update":
        return mapCustomer(payload);
      default:
        return { kind: "ignored", reason: `unknown topic ${delivery.topic || "(none)"}` };
    }
  },
};

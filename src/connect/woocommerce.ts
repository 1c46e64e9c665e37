/**
 * WooCommerce webhooks (`POST /connect/woocommerce`): `X-WC-Webhook-Signature` is the base64 HMAC-SHA256 of the
 * raw body with WOOCOMMERCE_WEBHOOK_SECRET; `X-WC-Webhook-Topic` names the topic (`order.created`) and
 * `X-WC-Webhook-Delivery-ID` the delivery. An order becomes `order_placed` once it is paid (processing,
 * completed, on-hold): Woo creates an order before payment, so "Order updated" is listened to as well, and the
 * event is named by the order, so it counts once whichever webhook brings it. When a webhook is saved Woo posts
 * an unsigned `webhook_id=…` ping, answered 200 without writing anything.
 */
import { z } from "zod";
import {
  type Connector,
  instant,
  type LineItem,
  MAX_ITEMS,
  type Mapping,
  type MappingContext,
  money,
  payloadProblem,
  personName,
  platformId,
  replenishDays,
  shortestReplenishDays,
  usableDeliveryId,
} from "./connector";
import { bodyDigest, hmacSignatureValid } from "./signature";

/** Order statuses that mean the customer has paid or committed to pay (on-hold: bank transfer, cheque). */
const PLACED_STATUSES = new Set(["processing", "completed", "on-hold"]);

const metaData = z
  .array(z.object({ key: z.string(), value: z.unknown() }).passthrough())
  .nullish()
  .catch(null);

const lineItem = z
  .object({
    product_id: platformId.nullish(),
    variation_id: platformId.nullish(),
    sku: z.string().nullish(),
    name: z.string().nullish(),
    quantity: z.number().int().nonnegative().default(1),
    price: money,
    image: z
      .object({ src: z.union([z.string(), z.boolean()]).nullish() })
      .passthrough()
      .nullish()
      .catch(null),
    meta_data: metaData,
  })
  .passthrough();

const order = z
  .object({
    id: platformId,
    number: z.union([z.string(), z.number()]).nullish(),
    status: z.string(),
    currency: z.string().nullish(),
    total: money,
    date_created_gmt: z.string().nullish(),
    customer_id: platformId.nullish(),
    billing: z.object({ email: z.string().nullish(), first_name: personName, last_name: personName }).passthrough().nullish(),
    line_items: z.array(lineItem).default([]),
  })
  .passthrough();

type WooLineItem = z.infer<typeof lineItem>;

/** A Woo line item as the library's templates read it; the product link is WordPress's `?post_type=product&p=ID`. */
function toLineItem(item: WooLineItem, shopUrl: string | undefined): LineItem {
  const replenish = item.meta_data?.find((m) => m.key === "replenish_days" || m.key === "_replenish_days");
  const src = typeof item.image?.src === "string" && item.image.src ? item.image.src : null;
  return {
    product_id: item.product_id && item.product_id !== "0" ? item.product_id : null,
    variant_id: item.variation_id && item.variation_id !== "0" ? item.variation_id : null,
    sku: item.sku || null,
    name: item.name || "Item",
    quantity: item.quantity,
    price: item.price,
    image_url: src,
    url: shopUrl && item.product_id ? `${shopUrl.replace(/\/+$/, "")}/?post_type=product&p=${encodeURIComponent(item.product_id)}` : null,
    replenish_days: replenishDays(replenish?.value),
  };
}

function mapOrder(payload: unknown, context: MappingContext): Mapping {
  const parsed = order.safeParse(payload);
  if (!parsed.success) return { kind: "ignored", reason: payloadProblem(parsed.error) };
  const o = parsed.data;
  if (!PLACED_STATUSES.has(o.status)) return { kind: "ignored", reason: `order ${o.id} is ${o.status}, not placed yet` };
  const email = o.billing?.email;
  if (!email) return { kind: "ignored", reason: `order ${o.id} has no billing email` };
  const items = o.line_items.slice(0, MAX_ITEMS).map((i) => toLineItem(i, context.shopUrl));
  // Woo's date_created_gmt has no zone designator; it is UTC.
  const created = o.date_created_gmt ? `${o.date_created_gmt.replace(/Z?$/, "")}Z` : null;
  return {
    kind: "mapped",
    contact: {
      key: { email },
      ...(o.billing?.first_name ? { firstName: o.billing.first_name } : {}),
      ...(o.billing?.last_name ? { lastName: o.billing.last_name } : {}),
      attributes: o.customer_id && o.customer_id !== "0" ? { woocommerce_customer_id: o.customer_id } : {},
    },
    event: {
      id: `woocommerce_order_${o.id}`,
      name: "order_placed",
      properties: {
        order_id: o.id,
        order_number: o.number === undefined || o.number === null ? null : String(o.number),
        value: o.total,
        currency: o.currency ?? null,
        items,
        replenish_days: shortestReplenishDays(items),
        platform: "woocommerce",
      },
      value: o.total,
      ts: instant(created, context.now),
    },
  };
}

/** The WooCommerce connector. */
export const woocommerce: Connector = {
  platform: "woocommerce",
  secretName: "WOOCOMMERCE_WEBHOOK_SECRET",
  topics: ["Order created", "Order updated"],
  isPing(body, headers) {
    return !headers.get("x-wc-webhook-signature") && !headers.get("x-wc-webhook-topic") && /^webhook_id=\d+$/.test(body.trim());
  },
  async verify(secret, body, headers) {
    const signature = headers.get("x-wc-webhook-signature");
    if (!signature) return { ok: false, reason: "missing_signature" };
    if (!(await hmacSignatureValid(secret, body, signature, "base64"))) return { ok: false, reason: "bad_signature" };
    const id = usableDeliveryId(headers.get("x-wc-webhook-delivery-id"));
    return { ok: true, delivery: { id: id || (await bodyDigest(body)), topic: headers.get("x-wc-webhook-topic")?.trim() ?? "" } };
  },
  map(delivery, payload, context) {
    switch (delivery.topic) {
      case "order.created":
      case "order.updated":
        return mapOrder(payload, context);
      default:
        return { kind: "ignored", reason: `unknown topic ${delivery.topic || "(none)"}` };
    }
  },
};

/** Posts signed platform webhooks to /connect/*, as Shopify, WooCommerce and Stripe would, and reads back what they wrote. */
import { env } from "cloudflare:workers";
import Stripe from "stripe";
import { call, callJson } from "./api";

export const SHOPIFY_SECRET = env.SHOPIFY_WEBHOOK_SECRET as string;
export const WOO_SECRET = env.WOOCOMMERCE_WEBHOOK_SECRET as string;
export const STRIPE_SECRET = env.STRIPE_WEBHOOK_SECRET as string;

/** The base64 HMAC-SHA256 of a body, as Shopify and WooCommerce sign it. */
export async function hmacBase64(secret: string, body: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return btoa(String.fromCharCode(...mac));
}

/** A fixture with some fields replaced (unique emails and ids per test), as the JSON text a platform would send. */
export function variant(fixture: string, replace: Record<string, string>): string {
  let text = fixture;
  for (const [from, to] of Object.entries(replace)) text = text.replaceAll(from, to);
  return text;
}

/** Posts a Shopify webhook; the body is signed with the configured secret unless a signature is given. */
export async function postShopify(topic: string, body: string, webhookId: string, signature?: string | null) {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-shopify-topic": topic,
    "x-shopify-webhook-id": webhookId,
    "x-shopify-shop-domain": "tea-co.myshopify.com",
    "x-shopify-api-version": "2025-10",
  };
  const sig = signature === undefined ? await hmacBase64(SHOPIFY_SECRET, body) : signature;
  if (sig !== null) headers["x-shopify-hmac-sha256"] = sig;
  return callJson("/connect/shopify", { method: "POST", rawBody: body, headers, auth: false });
}

/** Posts a WooCommerce webhook; signed with the configured secret unless a signature is given. */
export async function postWoo(topic: string, body: string, deliveryId: string, signature?: string | null) {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "x-wc-webhook-source": "https://woo.shop.test/",
    "x-wc-webhook-topic": topic,
    "x-wc-webhook-resource": "order",
    "x-wc-webhook-event": topic.split(".")[1] ?? "",
    "x-wc-webhook-id": "12",
    "x-wc-webhook-delivery-id": deliveryId,
  };
  const sig = signature === undefined ? await hmacBase64(WOO_SECRET, body) : signature;
  if (sig !== null) headers["x-wc-webhook-signature"] = sig;
  return callJson("/connect/woocommerce", { method: "POST", rawBody: body, headers, auth: false });
}

/** A Stripe-Signature header from the stripe package itself (Web Crypto provider: the tests run in workerd). */
export function stripeSignature(body: string, options: { secret?: string; timestamp?: number } = {}): Promise<string> {
  return Stripe.webhooks.generateTestHeaderStringAsync({
    payload: body,
    secret: options.secret ?? STRIPE_SECRET,
    timestamp: options.timestamp ?? Math.floor(Date.now() / 1000),
    cryptoProvider: Stripe.createSubtleCryptoProvider(),
  });
}

/** Posts a Stripe event with the given Stripe-Signature header (a fresh valid one unless given; null sends none). */
export async function postStripe(body: string, header?: string | null) {
  const headers: Record<string, string> = { "content-type": "application/json; charset=utf-8" };
  const sig = header === undefined ? await stripeSignature(body) : header;
  if (sig !== null) headers["stripe-signature"] = sig;
  return callJson("/connect/stripe", { method: "POST", rawBody: body, headers, auth: false });
}

/** The contact's public view through the admin API, or null when there is none. */
export async function contactOf(email: string): Promise<any | null> {
  const res = await callJson(`/v1/contacts/${encodeURIComponent(email)}`);
  return res.status === 200 ? res.body : null;
}

/** The stored events of a contact named `name`, oldest first. */
export async function eventsNamed(email: string, name: string) {
  const { results } = await env.DB.prepare(
    `SELECT e.id, e.name, e.properties, e.value, e.source, e.ts FROM events e JOIN contacts c ON c.id = e.contact_id
     WHERE c.email = ? AND e.name = ? ORDER BY e.ts, e.id`,
  )
    .bind(email, name)
    .all<{ id: string; name: string; properties: string; value: number | null; source: string; ts: number }>();
  return results.map((r) => ({ ...r, properties: JSON.parse(r.properties) as Record<string, any> }));
}

/** Counts rows of the tables a connector may write (a rejected request must leave all of them as they were). */
export async function writtenRows(): Promise<number> {
  const tables = ["contacts", "events", "connector_deliveries", "enrollments", "messages"];
  const counts = await env.DB.batch(tables.map((t) => env.DB.prepare(`SELECT count(*) AS n FROM ${t}`)));
  return counts.reduce((sum, r) => sum + Number((r.results[0] as { n: number }).n), 0);
}

export { call };

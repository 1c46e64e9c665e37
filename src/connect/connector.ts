/**
 * What every connector shares: the shape of a verified delivery, the facts a platform module maps it to (one
 * contact, at most one event), and the rules that are the same whatever the platform: which consent a
 * platform's marketing flag may write, how money and line items are read. Pure: no I/O.
 */
import { z } from "zod";
import type { Consent, ContactRow } from "../db/schema";
import type { Config } from "../env";

/** The platforms Nurture connects to, as they appear in paths and in the deliveries table. */
export const PLATFORMS = ["shopify", "woocommerce", "stripe"] as const;
export type Platform = (typeof PLATFORMS)[number];

/** A request whose signature checked out. */
export interface Delivery {
  /** The platform's delivery id (dedupe key). */
  id: string;
  topic: string;
}

/** The outcome of checking a request's signature. */
export type Verification = { ok: true; delivery: Delivery } | { ok: false; reason: "missing_signature" | "bad_signature" | "stale" };

/** Which contact a delivery is about: by email, or (Stripe subscriptions) by the Stripe customer id an invoice recorded. */
export type ContactKey = { email: string } | { stripeCustomerId: string };

/** A platform's word on email marketing, and when it was given (ms; null when the platform does not say). */
export interface MarketingConsent {
  state: "opted_in" | "opted_out" | "unknown";
  at: number | null;
}

/** The contact fields a delivery carries. */
export interface ContactUpdate {
  key: ContactKey;
  firstName?: string | null;
  lastName?: string | null;
  attributes?: Record<string, unknown>;
  marketing?: MarketingConsent;
}

/** The event a delivery becomes; its id derives from the platform's ids, so a redelivery is stored once. */
export interface ConnectorEvent {
  id: string;
  name: string;
  properties: Record<string, unknown>;
  value: number | null;
  ts: number;
}

/** What a platform module makes of a verified delivery. */
export type Mapping = { kind: "mapped"; contact: ContactUpdate; event?: ConnectorEvent } | { kind: "ignored"; reason: string };

/** What mapping may read besides the payload. */
export interface MappingContext {
  /** The shop's storefront (SHOP_URL), for links the payload does not carry. */
  shopUrl: string | undefined;
  now: number;
}

/** One platform: where its secret is, how it signs, which topics it maps. */
export interface Connector {
  platform: Platform;
  /** The wrangler secret that holds the signing secret. */
  secretName: "SHOPIFY_WEBHOOK_SECRET" | "WOOCOMMERCE_WEBHOOK_SECRET" | "STRIPE_WEBHOOK_SECRET";
  /** The topics (event types) to enable on the platform, as its settings name them. */
  topics: readonly string[];
  verify(secret: string, body: string, headers: Headers, now: number): Promise<Verification>;
  map(delivery: Delivery, payload: unknown, context: MappingContext): Mapping;
  /** A request the platform sends to test the URL, unsigned, to be answered 200 without writing anything. */
  isPing?(body: string, headers: Headers): boolean;
}

/** The connector's signing secret from the configuration, if set. */
export function connectorSecret(config: Config, connector: Connector): string | undefined {
  return config[connector.secretName];
}

/**
 * The consent a connector writes for a contact, or undefined to write none. Only an explicit opt-in subscribes,
 * and it never overrides an unsubscribe made later than the platform's consent (a redelivered or stale
 * `accepts_marketing` must not re-subscribe someone who left); an explicit opt-out at the platform unsubscribes.
 * Without an opt-in an existing contact keeps its consent and a new one gets `CONSENT_WITHOUT_OPT_IN`.
 */
export function consentToWrite(marketing: MarketingConsent | undefined, existing: ContactRow | undefined): Consent | undefined {
  const state = marketing?.state ?? "unknown";
  if (!existing) return state === "opted_in" ? "subscribed" : state === "opted_out" ? "unsubscribed" : CONSENT_WITHOUT_OPT_IN;
  if (state === "unknown") return undefined;
  const wanted: Consent = state === "opted_in" ? "subscribed" : "unsubscribed";
  if (wanted === existing.consent) return undefined;
  const newerThanContact = marketing?.at != null && marketing.at > (existing.consentChangedAt ?? 0);
  if (wanted === "subscribed" && existing.consent === "unsubscribed" && !newerThanContact) return undefined;
  if (wanted === "unsubscribed" && marketing?.at != null && !newerThanContact) return undefined;
  return wanted;
}

/** The consent of a contact a connector creates without an opt-in: a guest checkout is not a subscription (SPEC section 9). */
const CONSENT_WITHOUT_OPT_IN: Consent = "none";

/** The most line items an event keeps (an email shows them all; the order's value stays the platform's total). */
export const MAX_ITEMS = 100;

/** A line item as the library's templates read it (`event.properties.items`). */
export interface LineItem {
  product_id: string | null;
  variant_id: string | null;
  sku: string | null;
  name: string;
  quantity: number;
  price: number | null;
  image_url: string | null;
  url: string | null;
  /** Days the product lasts, from a line-item property `replenish_days` (the replenishment flow reads it). */
  replenish_days: number | null;
}

/** An id the platform sends as a number or a string. */
export const platformId = z.union([z.string().max(200), z.number()]).transform(String);

/** A person's name as the platform sends it, cut to what a contact keeps (a long name never drops the whole delivery). */
export const personName = z
  .string()
  .nullish()
  .transform((v) => v?.trim().slice(0, 200) || null);

/** A delivery id as a header carries it; an unusable one (absent, or too long for an event id) is replaced by the body's digest. */
export function usableDeliveryId(header: string | null): string | null {
  const id = header?.trim();
  return id && id.length <= 200 ? id : null;
}

/** A money amount the platform sends as a decimal string ("19.90") or a number; anything else is null. */
export const money = z
  .union([z.string(), z.number()])
  .nullish()
  .transform((v) => {
    const n = typeof v === "string" ? Number(v.trim()) : v;
    return typeof n === "number" && Number.isFinite(n) && v !== "" ? n : null;
  });

/** A positive whole number of days from a line-item property, or null. */
export function replenishDays(value: unknown): number | null {
  const n = typeof value === "number" ? value : typeof value === "string" ? Number(value.trim()) : Number.NaN;
  return Number.isInteger(n) && n > 0 && n <= 3650 ? n : null;
}

/** The shortest `replenish_days` of the items (several consumables run out with the first of them), or null. */
export function shortestReplenishDays(items: LineItem[]): number | null {
  const days = items.flatMap((i) => (i.replenish_days === null ? [] : [i.replenish_days]));
  return days.length > 0 ? Math.min(...days) : null;
}

/** An instant from an ISO time the platform sends, else `fallback`. */
export function instant(iso: string | null | undefined, fallback: number): number {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(t) ? t : fallback;
}

/** A short description of why a payload did not fit its schema, for the log and the Connect page. */
export function payloadProblem(error: z.ZodError): string {
  const first = error.issues[0];
  return first ? `payload did not fit: ${first.path.join(".") || "(root)"} ${first.message}` : "payload did not fit";
}

/**
 * Parses a webhook body, keeping integers beyond 2^53 exact as strings: Shopify's 64-bit ids (e.g.
 * 820982911946154508) would otherwise be rounded by JSON.parse and name the wrong order or product. Uses the
 * reviver's access to the source text (V8, so workerd); `ok: false` when the body is not JSON.
 */
export function parseWebhookJson(body: string): { ok: true; value: unknown } | { ok: false } {
  const keepLargeIntegers = (_key: string, value: unknown, context?: { source?: string }) =>
    typeof value === "number" && !Number.isSafeInteger(value) && context?.source && /^-?\d+$/.test(context.source) ? context.source : value;
  try {
    return { ok: true, value: JSON.parse(body, keepLargeIntegers as Parameters<typeof JSON.parse>[1]) };
  } catch {
    return { ok: false };
  }
}

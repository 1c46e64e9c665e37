/**
 * The site snippet's surface: `GET /s.js` and `POST /v1/collect`, and the
 * public site key's reach (SPEC section 11). The key is in every page's
 * source, so anything it sends is a stranger's word: it describes what a
 * visitor does (events marked `snippet`, never system names, never money),
 * and ties a browser to a contact only with proof — a signed `_nt` identity
 * or an `identity_signature` the shop's backend computed. Without proof an
 * `identify` can only add an unknown address as a `pending` contact, which
 * gets the confirmation email; a known address changes nothing. A `signup`
 * (a `data-nurture-signup` form) follows the shop's opt-in mode
 * (tracking/signup.ts) and, with Turnstile on, needs a verified token. Requests are
 * rate-limited per client IP and per address. Answers 202 with nothing in it:
 * the public learns nothing about contacts.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { newEventId } from "../contact/changes";
import { createContactIfAbsent, findContact, normaliseEmail, recordLocation, type VisitorLocation } from "../db/contacts";
import type { EventInsert } from "../db/events";
import { contactExists, contactOfAnonymousId, linkAnonymousVisitor } from "../db/identities";
import type { ContactRow } from "../db/schema";
import type { Config } from "../env";
import { isValidTimeZone } from "../flows/schedule";
import { JsonObject } from "../flows/schema";
import { recordEvents } from "../pipeline/pipeline";
import { sendConfirmation } from "../tracking/consent";
import { readIdentityToken } from "../tracking/links";
import { originAllowed } from "../tracking/origins";
import { allowedTraits, signUpFromForm, signupMayMail } from "../tracking/signup";
import { SNIPPET, SNIPPET_VERSION } from "../tracking/snippet";
import { MAX_TURNSTILE_TOKEN, turnstilePassed, turnstileRequired } from "../tracking/turnstile";
import { secretsEqual } from "./admin-auth";
import { type AppEnv, pipelineOf } from "./context";
import { ApiError } from "./errors";
import { EventName } from "./events";
import { createRouter } from "./router";
import { emailInput, SnippetTraits } from "./shared-schemas";
import { allowHit, clientIp, rateLimited } from "./throttle";

const MAX_MESSAGES = 50;

/**
 * Event names only Nurture itself emits (SPEC section 6) or that the snippet's own message types stand for
 * (`page` → page_viewed, `identify` → identified), plus the time and segment triggers' names. A `track` of
 * one of them, or of any `email_*` name, is refused: a stranger cannot forge deliveries, bounces,
 * unsubscribes, opt-ins or profile changes.
 */
export const SYSTEM_EVENT_NAMES: ReadonlySet<string> = new Set([
  "email_sent",
  "email_delivered",
  "email_opened",
  "email_clicked",
  "email_bounced",
  "email_complained",
  "unsubscribed",
  "subscribed",
  "page_viewed",
  "identified",
  "attribute_changed",
  "segment_entered",
  "date_reached",
  "inactive",
  "webhook_failed",
  "chain_limit_reached",
]);

/** Whether the public site key may never send this event name. */
export function isSystemEventName(name: string): boolean {
  return SYSTEM_EVENT_NAMES.has(name) || name.startsWith("email_");
}

const CollectMessage = z
  .object({
    site_key: z.string().min(1).max(200),
    anonymous_id: z.string().min(8).max(100),
    type: z.enum(["page", "track", "identify", "signup"]).openapi({
      description: "`signup` is a sign-up form (`data-nurture-signup`): double or single opt-in as SIGNUP_OPT_IN says",
    }),
    event: EventName.optional(),
    properties: JsonObject.optional(),
    email: emailInput.optional(),
    traits: SnippetTraits.optional(),
    url: z.string().max(2000).optional(),
    ts: z.number().int().min(0).max(8.64e15).optional(),
    nt: z.string().max(300).optional().openapi({ description: "The `_nt` identity a tracked email link carried" }),
    identity_signature: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, "An identity signature is 64 hex digits")
      .optional()
      .openapi({ description: "HMAC-SHA256 of the lowercased email with IDENTITY_SECRET, hex, rendered by the shop's backend" }),
    turnstile_token: z.string().max(MAX_TURNSTILE_TOKEN).optional().openapi({
      description: "A signup's Turnstile token (the form's `cf-turnstile-response`); required when TURNSTILE_SECRET_KEY is set",
    }),
  })
  .strict()
  .refine((m) => m.type !== "track" || m.event === undefined || !isSystemEventName(m.event), {
    message: "This is a system event name; the snippet cannot send it",
    path: ["event"],
  })
  .refine((m) => m.type !== "track" || m.event !== undefined, { message: "A track message needs an event name", path: ["event"] })
  .refine((m) => (m.type !== "identify" && m.type !== "signup") || m.email !== undefined, {
    message: "An identify or signup message needs an email",
    path: ["email"],
  });
type CollectMessage = z.infer<typeof CollectMessage>;

const CollectBody = z.union([CollectMessage, z.array(CollectMessage).min(1).max(MAX_MESSAGES)]);

function allowedOrigin(c: Context<AppEnv>): string | null {
  const origin = c.req.header("origin");
  return origin && originAllowed(origin, c.var.config.ALLOWED_ORIGINS) ? origin : null;
}

function corsHeaders(c: Context<AppEnv>, origin: string) {
  c.header("Access-Control-Allow-Origin", origin);
  c.header("Vary", "Origin");
  c.header("Access-Control-Allow-Methods", "POST");
  c.header("Access-Control-Allow-Headers", "content-type");
  c.header("Access-Control-Max-Age", "86400");
}

/** The contact id a signed `_nt` identity names, if it still exists. */
async function identityContactId(c: Context<AppEnv>, nt: string, now: number): Promise<string | null> {
  const identity = await readIdentityToken(c.var.config.SIGNING_SECRET, nt, now);
  // An identity outlives nothing: a contact erased since the link was followed stays erased.
  return identity && (await contactExists(c.var.db, identity.contactId)) ? identity.contactId : null;
}

const encoder = new TextEncoder();

/** Whether `signature` is HMAC-SHA256(IDENTITY_SECRET, lowercased email) in hex; always false without the secret. */
async function identitySignatureValid(config: Config, email: string, signature: string | undefined): Promise<boolean> {
  if (!signature || !config.IDENTITY_SECRET) return false;
  const key = await crypto.subtle.importKey("raw", encoder.encode(config.IDENTITY_SECRET), { name: "HMAC", hash: "SHA-256" }, false, [
    "verify",
  ]);
  const mac = Uint8Array.from(signature.match(/../g)!, (byte) => Number.parseInt(byte, 16));
  // Web Crypto's verify compares in constant time.
  return crypto.subtle.verify("HMAC", key, mac, encoder.encode(normaliseEmail(email)));
}

/** A message as the handler works with it: `signed` when it is an identify whose `identity_signature` is valid. */
type Admitted = CollectMessage & { signed: boolean };

/**
 * An identify's effect on contacts: an unknown address becomes a `pending` contact with the allow-listed
 * traits and gets the confirmation email; a known one is left exactly as it is. A still-pending one that signs
 * up again (an unsigned identify: a form, not a logged-in page view) is sent the confirmation again, at most
 * once a day. Returns the contact.
 */
async function signUp(c: Context<AppEnv>, m: Admitted & { email: string }, now: number): Promise<ContactRow> {
  const db = c.var.db;
  const known = await findContact(db, m.email);
  if (known) {
    if (known.consent === "pending" && !m.signed) await sendConfirmation(pipelineOf(c), known, now);
    return known;
  }
  const { fields, attributes } = allowedTraits(c.var.config, m.traits);
  const created = await createContactIfAbsent(db, { email: m.email, ...fields, attributes, consent: "pending" }, now);
  // Created meanwhile by another request: that contact is left as it is.
  if (!created) return (await findContact(db, m.email))!;
  await sendConfirmation(pipelineOf(c), created, now);
  return created;
}

/**
 * The contact an anonymous id is known as, learning it first from this message's proof: a valid signature or
 * `_nt`.
 */
async function resolveVisitor(c: Context<AppEnv>, m: Admitted, now: number): Promise<string | null> {
  const db = c.var.db;
  let provenId: string | null = null;
  if (m.type === "identify" && m.email) {
    const contact = await signUp(c, { ...m, email: m.email }, now);
    if (m.signed) provenId = contact.id;
  }
  // A form's address is never proof: only the browser that confirms is tied to the contact.
  if (m.type === "signup" && m.email) await signUpFromForm(pipelineOf(c), { email: m.email, traits: m.traits }, now);
  if (!provenId && m.nt) provenId = await identityContactId(c, m.nt, now);
  if (provenId) {
    await linkAnonymousVisitor(db, m.anonymous_id, provenId, now);
    return provenId;
  }
  return contactOfAnonymousId(db, m.anonymous_id);
}

/** Refuses a batch whose signups do not each carry a Turnstile token Cloudflare accepts (when Turnstile is on). */
async function checkTurnstile(c: Context<AppEnv>, messages: CollectMessage[], ip: string | null): Promise<void> {
  const config = c.var.config;
  if (!turnstileRequired(config)) return;
  for (const m of messages) {
    if (m.type !== "signup") continue;
    if (!m.turnstile_token) throw new ApiError(400, "turnstile_required", "This sign-up needs the Turnstile check (cf-turnstile-response)");
    if (!(await turnstilePassed(config, m.turnstile_token, ip))) {
      throw new ApiError(403, "turnstile_failed", "The Turnstile check failed; reload the page and try again");
    }
  }
}

/**
 * Checks identity signatures, Turnstile tokens and the request's rate limits before anything is written: the
 * client IP's collect rate and, for signups and identifies without a valid signature (a stranger's word), each
 * address's rate and the confirmation mails the IP can cause.
 */
async function admit(c: Context<AppEnv>, messages: CollectMessage[]): Promise<Admitted[]> {
  const ip = clientIp(c);
  if (ip && !(await allowHit(c.env, "collect", ip))) throw rateLimited(c, "collect");
  await checkTurnstile(c, messages, ip);
  const admitted = await Promise.all(
    messages.map(async (m) => ({
      ...m,
      signed: m.type === "identify" && !!m.email && (await identitySignatureValid(c.var.config, m.email, m.identity_signature)),
    })),
  );
  // Per address: whether any message signs it up on a form (which may mail more contacts than an identify does).
  const unsigned = new Map<string, boolean>();
  for (const m of admitted) {
    if (!m.email || m.signed || (m.type !== "identify" && m.type !== "signup")) continue;
    const email = normaliseEmail(m.email);
    unsigned.set(email, unsigned.get(email) === true || m.type === "signup");
  }
  for (const [email, form] of unsigned) {
    if (!(await allowHit(c.env, "identify", email))) throw rateLimited(c, "identify");
    if (!ip) continue;
    const contact = await findContact(c.var.db, email);
    const mayMail = form ? signupMayMail(contact) : !contact || contact.consent === "pending";
    if (mayMail && !(await allowHit(c.env, "signup", ip))) throw rateLimited(c, "signup");
  }
  return admitted;
}

const MAX_PLACE_LENGTH = 100;

/** The visitor's location from Cloudflare's `request.cf` (set by the edge, never by the client); absent parts are left out. */
export function visitorLocation(cf: Record<string, unknown> | undefined): VisitorLocation {
  const text = (v: unknown) => (typeof v === "string" && v.trim() ? v.trim().slice(0, MAX_PLACE_LENGTH) : undefined);
  const location: VisitorLocation = {};
  const country = text(cf?.country);
  const region = text(cf?.region);
  const city = text(cf?.city);
  const timezone = text(cf?.timezone);
  if (country) location.country = country;
  if (region) location.region = region;
  if (city) location.city = city;
  if (timezone && isValidTimeZone(timezone)) location.timezone = timezone;
  return location;
}

function toEvent(m: CollectMessage, contactId: string | null, now: number): EventInsert {
  const form = m.type === "signup" ? { signup: true } : {};
  const name = m.type === "page" ? "page_viewed" : m.type === "track" ? m.event! : "identified";
  const ts = m.ts && Math.abs(m.ts - now) < 86_400_000 ? m.ts : now; // a visitor's clock is trusted only within a day
  return {
    id: newEventId(),
    contactId,
    anonymousId: m.anonymous_id,
    name,
    properties: { ...(m.properties ?? {}), ...form, ...(m.url ? { url: m.url } : {}) },
    value: null,
    source: "snippet",
    machine: false,
    messageId: null,
    ts,
  };
}

export const collectRoutes = createRouter()
  .get("/s.js", (c) =>
    c.body(SNIPPET, 200, {
      "content-type": "text/javascript; charset=utf-8",
      "cache-control": "public, max-age=3600",
      etag: `"snippet-${SNIPPET_VERSION}"`,
    }),
  )
  .options("/v1/collect", (c) => {
    const origin = allowedOrigin(c);
    if (!origin) throw new ApiError(403, "origin_not_allowed", "This origin may not send events");
    corsHeaders(c, origin);
    return c.body(null, 204);
  })
  .post("/v1/collect", async (c) => {
    const origin = allowedOrigin(c);
    if (!origin) throw new ApiError(403, "origin_not_allowed", "This origin may not send events");
    corsHeaders(c, origin);
    let raw: unknown;
    try {
      raw = JSON.parse(await c.req.text());
    } catch {
      throw new ApiError(400, "invalid_json", "The body is not JSON");
    }
    const parsed = CollectBody.safeParse(raw);
    if (!parsed.success) {
      throw new ApiError(
        422,
        "validation_failed",
        "The message is not valid",
        parsed.error.issues.map((i) => ({
          path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
          code: i.code,
          message: i.message,
        })),
      );
    }
    const messages = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
    const siteKey = c.var.config.SITE_KEY;
    if (!siteKey || !(await Promise.all(messages.map((m) => secretsEqual(m.site_key, siteKey)))).every(Boolean)) {
      throw new ApiError(401, "unauthorized", "Unknown site key");
    }
    const admitted = await admit(c, messages);
    const now = Date.now();
    const events: EventInsert[] = [];
    for (const m of admitted) events.push(toEvent(m, await resolveVisitor(c, m, now), now));
    // The visitor's own browser: where it is, is where the contact is (the connectors' requests come from servers).
    const known = events.flatMap((e) => (e.contactId ? [e.contactId] : []));
    await recordLocation(c.var.db, known, visitorLocation(c.req.raw.cf as Record<string, unknown> | undefined), now);
    await recordEvents(pipelineOf(c), events, now);
    return c.body(null, 202);
  });

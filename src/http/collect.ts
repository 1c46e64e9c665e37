/**
 * The site snippet's surface: `GET /s.js` and `POST /v1/collect` (public,
 * authorised by SITE_KEY, which can write events and nothing else; CORS and
 * the Origin check limit it to ALLOWED_ORIGINS). Visitors are anonymous ids
 * until they identify (an email) or arrive through a tracked link (`_nt`);
 * then their earlier events are stitched to the contact. Answers 202 with
 * nothing in it: the public learns nothing about contacts.
 */
import { z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import type { Context } from "hono";
import { newEventId } from "../contact/changes";
import { recordEvents } from "../contact/record-events";
import { findContact, normaliseEmail, upsertContact } from "../db/contacts";
import type { EventInsert } from "../db/events";
import { originAllowed } from "../tracking/origins";
import { SNIPPET, SNIPPET_VERSION } from "../tracking/snippet";
import { verifyExpiringToken } from "../tracking/tokens";
import { secretsEqual } from "./admin-auth";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";
import { EventName } from "./events";
import { createRouter } from "./router";
import { emailInput } from "./shared-schemas";

const MAX_MESSAGES = 50;

const CollectMessage = z
  .object({
    site_key: z.string().min(1).max(200),
    anonymous_id: z.string().min(8).max(100),
    type: z.enum(["page", "track", "identify"]),
    event: EventName.optional(),
    properties: z.record(z.string(), z.unknown()).optional(),
    email: emailInput.optional(),
    traits: z.record(z.string(), z.unknown()).optional(),
    url: z.string().max(2000).optional(),
    ts: z.number().int().min(0).max(8.64e15).optional(),
    nt: z.string().max(300).optional().openapi({ description: "The `_nt` identity a tracked email link carried" }),
  })
  .strict()
  .refine((m) => m.type !== "track" || m.event !== undefined, { message: "A track message needs an event name", path: ["event"] })
  .refine((m) => m.type !== "identify" || m.email !== undefined, { message: "An identify message needs an email", path: ["email"] });
type CollectMessage = z.infer<typeof CollectMessage>;

const CollectBody = z.union([CollectMessage, z.array(CollectMessage).min(1).max(MAX_MESSAGES)]);

/** Names the snippet may set on a contact; consent, lifecycle and system fields are not among them. */
const TRAIT_FIELDS = { first_name: "firstName", last_name: "lastName", timezone: "timezone" } as const;

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

/** The contact an anonymous id is known as, learning it from an identify or an `_nt` identity first. */
async function resolveVisitor(c: Context<AppEnv>, m: CollectMessage, now: number): Promise<string | null> {
  const db = c.var.db;
  let contactId: string | null = null;
  if (m.type === "identify" && m.email) {
    const existing = await findContact(db, normaliseEmail(m.email));
    const traits: Record<string, unknown> = {};
    const fields: Record<string, string> = {};
    for (const [name, value] of Object.entries(m.traits ?? {})) {
      const field = TRAIT_FIELDS[name as keyof typeof TRAIT_FIELDS];
      if (field && typeof value === "string") fields[field] = value.slice(0, 200);
      else if (!field) traits[name] = value;
    }
    // A visitor met on the site has not opted in to marketing: new contacts start `pending`.
    const { contact } = await upsertContact(
      db,
      { email: m.email, ...fields, attributes: traits, ...(existing ? {} : { consent: "pending" }) },
      now,
    );
    contactId = contact.id;
  } else if (m.nt) {
    const fields = await verifyExpiringToken(c.var.config.SIGNING_SECRET, "identity", m.nt, now);
    // An identity outlives nothing: a contact erased since the link was followed stays erased.
    const [known] = fields ? await db.all<{ id: string }>(sql`SELECT id FROM contacts WHERE id = ${fields[0]!}`) : [];
    contactId = known?.id ?? null;
  }
  if (contactId) {
    await db.run(sql`INSERT INTO identities (anonymous_id, contact_id, created_at) VALUES (${m.anonymous_id}, ${contactId}, ${now})
      ON CONFLICT(anonymous_id) DO UPDATE SET contact_id = excluded.contact_id`);
    // Stitch the visitor's anonymous history to the contact.
    await db.run(sql`UPDATE events SET contact_id = ${contactId} WHERE anonymous_id = ${m.anonymous_id} AND contact_id IS NULL`);
    return contactId;
  }
  const [known] = await db.all<{ contact_id: string }>(sql`SELECT contact_id FROM identities WHERE anonymous_id = ${m.anonymous_id}`);
  return known?.contact_id ?? null;
}

function toEvent(m: CollectMessage, contactId: string | null, now: number): EventInsert {
  const name = m.type === "page" ? "page_viewed" : m.type === "identify" ? "identified" : m.event!;
  const ts = m.ts && Math.abs(m.ts - now) < 86_400_000 ? m.ts : now; // a visitor's clock is trusted only within a day
  return {
    id: newEventId(),
    contactId,
    anonymousId: m.anonymous_id,
    name,
    properties: { ...(m.properties ?? {}), ...(m.url ? { url: m.url } : {}) },
    value: null,
    source: "collect",
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
    const now = Date.now();
    const events: EventInsert[] = [];
    for (const m of messages) events.push(toEvent(m, await resolveVisitor(c, m, now), now));
    await recordEvents(c.env, c.var.db, events, now);
    return c.body(null, 202);
  });

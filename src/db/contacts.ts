/** Queries on contacts and the rows that name them. */
import { desc, eq, inArray, or, type SQL, sql } from "drizzle-orm";
import type { ContactFacts } from "../flows/conditions";
import { incrementBase } from "../flows/interpreter";
import { isValidTimeZone } from "../flows/schedule";
import type { Database } from "./client";
import { type ContactRow, contacts, enrollments, events, identities, links, messages, suppressions } from "./schema";
import { keepErasedKey } from "./suppressions";

/** What a `PUT /v1/contacts` may change; absent fields are left as they are. */
export interface ContactPatch {
  email: string;
  firstName?: string | null;
  lastName?: string | null;
  timezone?: string | null;
  lifecycleStage?: string | null;
  consent?: ContactRow["consent"];
  /** Merged into the stored attributes; a `null` value removes that attribute. */
  attributes?: Record<string, unknown>;
  /** Added to numeric attributes after the merge, in the same statement; a missing or non-numeric one counts as 0. */
  increment?: Record<string, number>;
  /** Added to the stored tags. */
  tags?: string[];
  /** Removed from the stored tags (flows' `update` steps). */
  removeTags?: string[];
}

/** One attribute whose value a write changed (emitted as `attribute_changed`). */
export interface AttributeChange {
  attribute: string;
  from: unknown;
  to: unknown;
}

/** A new contact id: opaque, unguessable, URL-safe. */
export function newContactId(): string {
  return `c_${crypto.randomUUID().replaceAll("-", "")}`;
}

/** Normalises an email for storage and lookup. */
export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Finds a contact by id, or by email when the key contains `@`. */
export async function findContact(db: Database, idOrEmail: string): Promise<ContactRow | undefined> {
  const where = idOrEmail.includes("@") ? eq(contacts.email, normaliseEmail(idOrEmail)) : eq(contacts.id, idOrEmail);
  return db.select().from(contacts).where(where).get();
}

const TRACKED_FIELDS = [
  ["firstName", "first_name"],
  ["lastName", "last_name"],
  ["timezone", "timezone"],
  ["lifecycleStage", "lifecycle_stage"],
  ["consent", "consent"],
] as const;

/** Lists what differs between two versions of a contact, by public attribute name. */
export function diffContact(before: ContactRow | undefined, after: ContactRow): AttributeChange[] {
  const changes: AttributeChange[] = [];
  for (const [field, attribute] of TRACKED_FIELDS) {
    const from = before?.[field] ?? null;
    const to = after[field] ?? null;
    if (from !== to) changes.push({ attribute, from, to });
  }
  const keys = new Set([...Object.keys(before?.attributes ?? {}), ...Object.keys(after.attributes)]);
  for (const key of keys) {
    const from = before?.attributes[key] ?? null;
    const to = after.attributes[key] ?? null;
    if (JSON.stringify(from) !== JSON.stringify(to)) changes.push({ attribute: key, from, to });
  }
  const beforeTags = new Set(before?.tags ?? []);
  const added = after.tags.filter((t) => !beforeTags.has(t));
  if (added.length > 0 || after.tags.length !== beforeTags.size)
    changes.push({ attribute: "tags", from: before?.tags ?? [], to: after.tags });
  return changes;
}

/**
 * Creates or updates a contact by email in one atomic statement: attributes are
 * merged (JSON merge-patch) and tags added in SQL, so concurrent writers never
 * lose each other's keys.
 */
export async function upsertContact(
  db: Database,
  patch: ContactPatch,
  now: number,
): Promise<{ contact: ContactRow; created: boolean; changes: AttributeChange[] }> {
  const email = normaliseEmail(patch.email);
  const before = await db.select().from(contacts).where(eq(contacts.email, email)).get();
  const attributes = JSON.stringify(patch.attributes ?? {});
  const increment = JSON.stringify(patch.increment ?? {});
  // Attributes SQLite cannot parse (stored before inputs were bounded) would fail every write: the write replaces them.
  const merged = sql`json_patch(CASE WHEN json_valid(${contacts.attributes}) THEN ${contacts.attributes} ELSE '{}' END, ${attributes})`;
  const tags = JSON.stringify(patch.tags ?? []);
  const removed = JSON.stringify(patch.removeTags ?? []);
  const set: Record<string, unknown> = {
    // Read and written in this one statement, so concurrent increments each count once.
    attributes: patch.increment ? incremented(merged, increment) : merged,
    tags: sql`(SELECT json_group_array(value) FROM (SELECT value FROM json_each(${contacts.tags}) UNION SELECT value FROM json_each(${tags}))
      WHERE value NOT IN (SELECT value FROM json_each(${removed})))`,
    updatedAt: now,
  };
  if (patch.firstName !== undefined) set.firstName = patch.firstName;
  if (patch.lastName !== undefined) set.lastName = patch.lastName;
  if (patch.timezone !== undefined) set.timezone = patch.timezone;
  if (patch.lifecycleStage !== undefined) set.lifecycleStage = patch.lifecycleStage;
  if (patch.consent !== undefined && patch.consent !== before?.consent) {
    set.consent = patch.consent;
    set.consentChangedAt = now;
  }
  const initialAttributes = Object.fromEntries(Object.entries(patch.attributes ?? {}).filter(([, v]) => v !== null));
  for (const [key, by] of Object.entries(patch.increment ?? {})) initialAttributes[key] = incrementBase(initialAttributes[key]) + by;
  const contact = await db
    .insert(contacts)
    .values({
      id: newContactId(),
      email,
      firstName: patch.firstName ?? null,
      lastName: patch.lastName ?? null,
      timezone: patch.timezone ?? null,
      lifecycleStage: patch.lifecycleStage ?? null,
      consent: patch.consent ?? "none",
      consentChangedAt: now,
      attributes: initialAttributes,
      tags: [...new Set(patch.tags ?? [])].filter((t) => !patch.removeTags?.includes(t)),
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoUpdate({ target: contacts.email, set })
    .returning()
    .get();
  return { contact, created: !before, changes: diffContact(before, contact) };
}

/**
 * Attributes with each key of the JSON object `increment` added to: a number counts as itself, anything else (or a
 * missing key) as 0, as `incrementBase` reads it in the interpreter.
 */
function incremented(attributes: SQL, increment: string): SQL {
  return sql`(SELECT json_patch(a.v, (SELECT json_group_object(i.key,
      CASE WHEN b.type IN ('integer', 'real') THEN b.value ELSE 0 END + i.value)
      FROM json_each(${increment}) AS i LEFT JOIN json_each(a.v) AS b ON b.key = i.key)) FROM (SELECT ${attributes} AS v) AS a)`;
}

/** Creates a contact only if its email is unknown (never touching an existing one); undefined when it existed. */
export async function createContactIfAbsent(
  db: Database,
  fields: Pick<ContactPatch, "email" | "firstName" | "lastName" | "timezone" | "attributes" | "consent">,
  now: number,
): Promise<ContactRow | undefined> {
  return db
    .insert(contacts)
    .values({
      id: newContactId(),
      email: normaliseEmail(fields.email),
      firstName: fields.firstName ?? null,
      lastName: fields.lastName ?? null,
      timezone: fields.timezone ?? null,
      consent: fields.consent ?? "none",
      consentChangedAt: now,
      attributes: fields.attributes ?? {},
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing({ target: contacts.email })
    .returning()
    .get();
}

/**
 * Resolves emails to contact ids, creating the contacts that do not exist yet
 * (consent `none`: a contact the shop's backend reports, such as a guest checkout, never opted in).
 */
export async function resolveContactsByEmail(db: Database, emails: string[], now: number): Promise<Map<string, string>> {
  const unique = [...new Set(emails.map(normaliseEmail))];
  if (unique.length === 0) return new Map();
  const list = JSON.stringify(unique.map((email) => ({ id: newContactId(), email })));
  await db.run(sql`INSERT INTO contacts (id, email, consent, consent_changed_at, created_at, updated_at)
    SELECT json_extract(value, '$.id'), json_extract(value, '$.email'), 'none', ${now}, ${now}, ${now}
    FROM json_each(${list}) WHERE true
    ON CONFLICT(email) DO NOTHING`);
  const rows = await db
    .select({ id: contacts.id, email: contacts.email })
    .from(contacts)
    .where(sql`${contacts.email} IN (SELECT value FROM json_each(${JSON.stringify(unique)}))`);
  return new Map(rows.map((r) => [r.email, r.id]));
}

/** Where a visitor's browser is, from Cloudflare's `request.cf`. */
export interface VisitorLocation {
  country?: string;
  region?: string;
  city?: string;
  timezone?: string;
}

/**
 * Records a visitor's location on their contacts as the attributes `country`, `region` and `city`, and their time
 * zone only where none is set (one the contact or the shop set always wins). One statement; a row already up to
 * date is not written.
 */
export async function recordLocation(db: Database, ids: string[], location: VisitorLocation, now: number): Promise<void> {
  const place = Object.fromEntries((["country", "region", "city"] as const).flatMap((k) => (location[k] ? [[k, location[k]]] : [])));
  const timezone = location.timezone ?? null;
  if (ids.length === 0 || (Object.keys(place).length === 0 && !timezone)) return;
  const attributes = sql`json_patch(CASE WHEN json_valid(${contacts.attributes}) THEN ${contacts.attributes} ELSE '{}' END, ${JSON.stringify(place)})`;
  await db.run(sql`UPDATE ${contacts} SET attributes = ${attributes}, timezone = coalesce(${contacts.timezone}, ${timezone}), updated_at = ${now}
    WHERE ${contacts.id} IN (SELECT value FROM json_each(${JSON.stringify([...new Set(ids)])}))
      AND (${contacts.attributes} IS NOT ${attributes} OR (${contacts.timezone} IS NULL AND ${timezone} IS NOT NULL))`);
}

/** Returns which of the given contact ids exist. */
export async function existingContactIds(db: Database, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({ id: contacts.id })
    .from(contacts)
    .where(sql`${contacts.id} IN (SELECT value FROM json_each(${JSON.stringify([...new Set(ids)])}))`);
  return new Set(rows.map((r) => r.id));
}

/**
 * Deletes the contact and every row that names them, atomically, keeping only their erased key on the suppression
 * list (SPEC section 9), so that a later event or import that re-creates the address is never mailed.
 */
export async function eraseContactRows(db: Database, contact: ContactRow, erasedKey: string, now: number): Promise<void> {
  const namesContact = or(eq(messages.contactId, contact.id), eq(messages.toEmail, contact.email));
  const messageIds = db.select({ id: messages.id }).from(messages).where(namesContact);
  await db.batch([
    db.delete(links).where(inArray(links.messageId, messageIds)),
    db.delete(messages).where(namesContact),
    db.delete(events).where(eq(events.contactId, contact.id)),
    db
      .delete(events)
      .where(
        inArray(events.anonymousId, db.select({ id: identities.anonymousId }).from(identities).where(eq(identities.contactId, contact.id))),
      ),
    db.delete(identities).where(eq(identities.contactId, contact.id)),
    db.delete(enrollments).where(eq(enrollments.contactId, contact.id)),
    keepErasedKey(db, contact.email, erasedKey, now),
    db.delete(suppressions).where(eq(suppressions.email, contact.email)),
    db.delete(contacts).where(eq(contacts.id, contact.id)),
  ]);
}

/** What conditions and the interpreter know of a contact, suppression included; undefined once erased. */
export async function loadContactFacts(db: Database, id: string): Promise<ContactFacts | undefined> {
  const row = await db
    .select({ contact: contacts, suppressed: suppressions.email })
    .from(contacts)
    .leftJoin(suppressions, eq(suppressions.email, contacts.email))
    .where(eq(contacts.id, id))
    .get();
  return row ? contactFacts(row.contact, row.suppressed !== null) : undefined;
}

/** What conditions and the interpreter know of each of these contacts (those that exist), suppression included. */
export async function loadContactFactsByIds(db: Database, ids: string[]): Promise<ContactFacts[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .select({ contact: contacts, suppressed: suppressions.email })
    .from(contacts)
    .leftJoin(suppressions, eq(suppressions.email, contacts.email))
    .where(sql`${contacts.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`);
  return rows.map((row) => contactFacts(row.contact, row.suppressed !== null));
}

/**
 * The contact's stored zone when Intl knows it. One stored before zones were checked is logged and read as absent
 * (the flow's zone, else UTC, applies), so that it can never stop this contact's mail, nor anyone else's.
 */
function knownTimeZone(row: ContactRow): string | null {
  if (row.timezone === null || isValidTimeZone(row.timezone)) return row.timezone;
  console.warn(
    JSON.stringify({ level: "warn", message: "unknown stored time zone ignored", contactId: row.id, timezone: row.timezone.slice(0, 100) }),
  );
  return null;
}

/** A contact row as the facts conditions read. */
export function contactFacts(row: ContactRow, suppressed: boolean): ContactFacts {
  return {
    id: row.id,
    email: row.email,
    first_name: row.firstName,
    last_name: row.lastName,
    timezone: knownTimeZone(row),
    consent: row.consent,
    lifecycle_stage: row.lifecycleStage,
    attributes: row.attributes,
    tags: row.tags,
    last_opened_at: row.lastOpenedAt,
    last_clicked_at: row.lastClickedAt,
    last_order_at: row.lastOrderAt,
    orders_count: row.ordersCount,
    total_spent: row.totalSpent,
    unopened_streak: row.unopenedStreak,
    created_at: row.createdAt,
    suppressed,
  };
}

/** The contact's latest enrollments, events and messages, newest first, at most `limit` of each. */
export async function recentContactActivity(db: Database, contactId: string, limit: number) {
  const [enrolled, recentEvents, recentMessages] = await Promise.all([
    db.select().from(enrollments).where(eq(enrollments.contactId, contactId)).orderBy(desc(enrollments.enteredAt)).limit(limit),
    db.select().from(events).where(eq(events.contactId, contactId)).orderBy(desc(events.ts)).limit(limit),
    db.select().from(messages).where(eq(messages.contactId, contactId)).orderBy(desc(messages.createdAt)).limit(limit),
  ]);
  return { enrolled, recentEvents, recentMessages };
}

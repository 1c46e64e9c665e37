/**
 * Bulk contact writes and reads for import and export (SPEC section 9). Each statement takes its whole list as one
 * JSON parameter read with `json_each`, so a batch of 1,000 contacts costs a handful of queries, never one per row
 * (D1 refuses a statement with more than 100 bound parameters, and the Free plan allows 50 queries per call).
 */
import { and, asc, gt, type SQL, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import type { Database } from "./client";
import { type ContactPatch, diffContact, newContactId, normaliseEmail } from "./contacts";
import { type Consent, type ContactRow, contacts, suppressions } from "./schema";
import { erasedAddressKey } from "./suppressions";

/** D1 keeps a value up to 2 MB; a statement's JSON list is cut below that. */
const MAX_LIST_CHARS = 900_000;

/** A contact write of an import, applied as PUT /v1/contacts would: absent fields are kept. */
export type BatchPatch = Omit<ContactPatch, "removeTags">;

/** What happened to one row of a batch. */
export type BatchOutcome =
  | { status: "created" | "updated" | "unchanged"; before: ContactRow | undefined; after: ContactRow }
  | { status: "too_large" };

/** Splits a list into pieces whose JSON stays under MAX_LIST_CHARS each. */
function jsonChunks<T>(items: T[]): string[] {
  const chunks: string[] = [];
  let current: string[] = [];
  let size = 2;
  for (const item of items) {
    const json = JSON.stringify(item);
    if (current.length > 0 && size + json.length + 1 > MAX_LIST_CHARS) {
      chunks.push(`[${current.join(",")}]`);
      current = [];
      size = 2;
    }
    current.push(json);
    size += json.length + 1;
  }
  if (current.length > 0) chunks.push(`[${current.join(",")}]`);
  return chunks;
}

/** Which of the addresses were erased (SPEC section 9): one HMAC each, one query. */
export async function erasedAddresses(db: Database, secret: string, emails: string[]): Promise<Set<string>> {
  const keyOf = new Map<string, string>();
  for (const email of emails) keyOf.set(await erasedAddressKey(secret, email), email);
  const rows = await db
    .select({ key: suppressions.email })
    .from(suppressions)
    .where(sql`${suppressions.email} IN (SELECT value FROM json_each(${JSON.stringify([...keyOf.keys()])}))`);
  return new Set(rows.map((r) => keyOf.get(r.key) as string));
}

/** The stored contacts of these addresses, by normalised email. */
async function contactsByEmail(db: Database, emails: string[]): Promise<Map<string, ContactRow>> {
  const found = new Map<string, ContactRow>();
  for (const list of jsonChunks(emails)) {
    const rows = await db.select().from(contacts).where(sql`${contacts.email} IN (SELECT value FROM json_each(${list}))`);
    for (const row of rows) found.set(row.email, row);
  }
  return found;
}

/** A contact with a patch applied, as the upsert's SQL would leave it (to tell an unchanged row from a changed one). */
export function applyPatch(before: ContactRow, patch: BatchPatch): ContactRow {
  const attributes = { ...before.attributes };
  for (const [key, value] of Object.entries(patch.attributes ?? {})) {
    if (value === null) delete attributes[key];
    else attributes[key] = value;
  }
  const tags = [...before.tags, ...(patch.tags ?? []).filter((t) => !before.tags.includes(t))];
  return {
    ...before,
    firstName: patch.firstName === undefined ? before.firstName : patch.firstName,
    lastName: patch.lastName === undefined ? before.lastName : patch.lastName,
    timezone: patch.timezone === undefined ? before.timezone : patch.timezone,
    lifecycleStage: patch.lifecycleStage === undefined ? before.lifecycleStage : patch.lifecycleStage,
    consent: patch.consent ?? before.consent,
    attributes,
    tags: [...new Set(tags)],
  };
}

/** A contact that does not exist yet, as a base for a create's patch. */
function emptyContact(email: string): ContactRow {
  return {
    id: "",
    email,
    firstName: null,
    lastName: null,
    timezone: null,
    consent: "none",
    consentChangedAt: null,
    lifecycleStage: null,
    attributes: {},
    tags: [],
    lastOpenedAt: null,
    lastClickedAt: null,
    lastOrderAt: null,
    ordersCount: 0,
    totalSpent: 0,
    unopenedStreak: 0,
    createdAt: 0,
    updatedAt: 0,
  };
}

/** A patch as one element of the statements' JSON list: `null` clears a field, an absent key keeps it. */
function patchJson(id: string, email: string, patch: BatchPatch, consent: Consent | undefined) {
  return {
    id,
    email,
    ...(patch.firstName !== undefined ? { first_name: patch.firstName } : {}),
    ...(patch.lastName !== undefined ? { last_name: patch.lastName } : {}),
    ...(patch.timezone !== undefined ? { timezone: patch.timezone } : {}),
    ...(patch.lifecycleStage !== undefined ? { lifecycle_stage: patch.lifecycleStage } : {}),
    ...(consent !== undefined ? { consent } : {}),
    attributes: patch.attributes ?? {},
    tags: [...new Set(patch.tags ?? [])],
  };
}

/** `column` from the patch when its key is present (a JSON null clears it), else the stored value. */
function fromPatch(column: string): SQL {
  return sql.raw(
    `CASE WHEN json_type(p.value, '$.${column}') IS NULL THEN contacts.${column} ELSE json_extract(p.value, '$.${column}') END`,
  );
}

/**
 * Upserts contacts by normalised email (one patch per address, the caller deduplicates): one SELECT for the stored
 * rows, one INSERT for the new and one UPDATE for the changed, each over one JSON list. A row that would change
 * nothing is not written at all, so the same batch twice leaves every row, `updated_at` included, as it was.
 */
export async function upsertContactBatch(
  db: Database,
  patches: BatchPatch[],
  now: number,
  maxAttributesBytes: number,
): Promise<BatchOutcome[]> {
  const emails = patches.map((p) => normaliseEmail(p.email));
  const stored = await contactsByEmail(db, emails);
  const creates: ReturnType<typeof patchJson>[] = [];
  const updates: ReturnType<typeof patchJson>[] = [];
  const tooLarge = new Set<string>();
  const encoder = new TextEncoder();
  patches.forEach((patch, i) => {
    const email = emails[i] as string;
    const before = stored.get(email);
    const after = applyPatch(before ?? emptyContact(email), patch);
    if (encoder.encode(JSON.stringify(after.attributes)).length > maxAttributesBytes) tooLarge.add(email);
    else if (!before) creates.push(patchJson(newContactId(), email, { ...patch, attributes: after.attributes }, patch.consent ?? "none"));
    else if (diffContact(before, after).length > 0) updates.push(patchJson(before.id, email, patch, patch.consent));
  });

  const written = new Map<string, ContactRow>();
  for (const list of jsonChunks(creates)) {
    const rows = await db.all<Record<string, unknown>>(sql`INSERT INTO contacts
        (id, email, first_name, last_name, timezone, lifecycle_stage, consent, consent_changed_at, attributes, tags, created_at, updated_at)
      SELECT json_extract(value, '$.id'), json_extract(value, '$.email'), json_extract(value, '$.first_name'),
        json_extract(value, '$.last_name'), json_extract(value, '$.timezone'), json_extract(value, '$.lifecycle_stage'),
        json_extract(value, '$.consent'), ${now}, json_extract(value, '$.attributes'), json_extract(value, '$.tags'), ${now}, ${now}
      FROM json_each(${list}) WHERE true
      ON CONFLICT(email) DO NOTHING
      RETURNING *`);
    for (const row of rows.map(rowFromSql)) written.set(row.email, row);
  }
  // A create that lost a race with another writer becomes an update of that writer's row.
  const raced = creates.filter((c) => !written.has(c.email));
  if (raced.length > 0) {
    const racedRows = await contactsByEmail(
      db,
      raced.map((r) => r.email),
    );
    for (const r of raced) {
      const row = racedRows.get(r.email);
      if (row) {
        stored.set(r.email, row);
        updates.push({ ...r, id: row.id });
      }
    }
  }
  for (const list of jsonChunks(updates)) {
    const rows = await db.all<Record<string, unknown>>(sql`UPDATE contacts SET
        first_name = ${fromPatch("first_name")}, last_name = ${fromPatch("last_name")}, timezone = ${fromPatch("timezone")},
        lifecycle_stage = ${fromPatch("lifecycle_stage")},
        consent = coalesce(json_extract(p.value, '$.consent'), contacts.consent),
        consent_changed_at = CASE WHEN coalesce(json_extract(p.value, '$.consent'), contacts.consent) = contacts.consent
          THEN contacts.consent_changed_at ELSE ${now} END,
        attributes = json_patch(CASE WHEN json_valid(contacts.attributes) THEN contacts.attributes ELSE '{}' END, json_extract(p.value, '$.attributes')),
        tags = (SELECT json_group_array(value) FROM (SELECT value FROM json_each(contacts.tags)
          UNION SELECT value FROM json_each(json_extract(p.value, '$.tags')))),
        updated_at = ${now}
      FROM json_each(${list}) AS p
      WHERE contacts.id = json_extract(p.value, '$.id')
      RETURNING *`);
    for (const row of rows.map(rowFromSql)) written.set(row.email, row);
  }

  return emails.map((email): BatchOutcome => {
    if (tooLarge.has(email)) return { status: "too_large" };
    const before = stored.get(email);
    const after = written.get(email);
    if (after) return { status: before ? "updated" : "created", before, after };
    return { status: "unchanged", before, after: before as ContactRow };
  });
}

/** A contacts row as raw SQL returns it, typed as drizzle's select would. */
function rowFromSql(r: Record<string, unknown>): ContactRow {
  const json = <T>(v: unknown, fallback: T): T => {
    try {
      return typeof v === "string" ? (JSON.parse(v) as T) : fallback;
    } catch {
      return fallback;
    }
  };
  return {
    id: r.id as string,
    email: r.email as string,
    firstName: r.first_name as string | null,
    lastName: r.last_name as string | null,
    timezone: r.timezone as string | null,
    consent: r.consent as Consent,
    consentChangedAt: r.consent_changed_at as number | null,
    lifecycleStage: r.lifecycle_stage as string | null,
    attributes: json(r.attributes, {}),
    tags: json(r.tags, []),
    lastOpenedAt: r.last_opened_at as number | null,
    lastClickedAt: r.last_clicked_at as number | null,
    lastOrderAt: r.last_order_at as number | null,
    ordersCount: r.orders_count as number,
    totalSpent: r.total_spent as number,
    unopenedStreak: r.unopened_streak as number,
    createdAt: r.created_at as number,
    updatedAt: r.updated_at as number,
  };
}

/** What a contacts page is filtered by: a name or email prefix, a segment's condition (as SQL), a consent. */
export interface ContactFilter {
  prefix?: string;
  segment?: SQL;
  consent?: Consent;
}

/** The filter as a WHERE over `contacts AS c` (the alias conditions compile to). */
function filterSql(filter: ContactFilter): SQL {
  const parts: SQL[] = [];
  if (filter.prefix) {
    // instr(…) = 1 rather than LIKE: D1 refuses a LIKE pattern over 50 bytes, and a prefix needs no wildcards.
    const prefix = filter.prefix.toLowerCase();
    parts.push(sql`(instr(c.email, ${prefix}) = 1 OR instr(lower(c.first_name), ${prefix}) = 1
      OR instr(lower(c.last_name), ${prefix}) = 1 OR instr(lower(c.first_name || ' ' || c.last_name), ${prefix}) = 1)`);
  }
  if (filter.segment) parts.push(filter.segment);
  if (filter.consent) parts.push(sql`c.consent = ${filter.consent}`);
  return parts.length > 0 ? sql.join(parts, sql` AND `) : sql`1`;
}

/** One page of contacts matching the filter in id order, after the `after` id: one query. */
export async function contactPage(db: Database, filter: ContactFilter, limit: number, after?: string): Promise<ContactRow[]> {
  const c = alias(contacts, "c");
  const where = filterSql(filter);
  return db
    .select()
    .from(c)
    .where(after ? and(where, gt(c.id, after)) : where)
    .orderBy(asc(c.id))
    .limit(limit);
}

/** Every attribute key the matching contacts hold, sorted: the export's attribute columns. */
export async function attributeKeys(db: Database, filter: ContactFilter): Promise<string[]> {
  const rows = await db.all<{ key: string }>(sql`SELECT DISTINCT a.key AS key FROM contacts AS c,
      json_each(CASE WHEN json_valid(c.attributes) THEN c.attributes ELSE '{}' END) AS a
    WHERE ${filterSql(filter)} ORDER BY a.key`);
  return rows.map((r) => r.key);
}

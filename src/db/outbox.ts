/**
 * The outbox's state changes. Each claim is one UPDATE … RETURNING, which D1
 * runs atomically, so overlapping delivery runs never take the same row; a
 * claimed row carries a lease and the id of its batch, and that id is the
 * provider's idempotency key for as long as the row is not sent.
 */
import { and, eq, sql } from "drizzle-orm";
import type { Database } from "./client";
import { type MessageRow, messages, sendBatches } from "./schema";

/** How long a claim holds a row before another run may take it back. */
export const LEASE_MS = 2 * 60_000;

/**
 * Size caps that keep a message row well under D1's 2 MB row limit: its stored context (the triggering
 * event) and its rendered subject + html + text. A message over either fails as `too_large`; it never
 * reaches a statement D1 would refuse, where it would stay `sending`.
 */
export const MAX_CONTEXT_BYTES = 256 * 1024;
/** See MAX_CONTEXT_BYTES: the rendered subject, html and text together. */
export const MAX_RENDERED_BYTES = 1024 * 1024;

const encoder = new TextEncoder();

/** The UTF-8 size of a string, as D1 counts it against its limits. */
export function utf8Bytes(text: string): number {
  return encoder.encode(text).byteLength;
}

/** Attempts after which a message whose lease expires again fails as `stuck` instead of being retried. */
export const STUCK_AFTER_ATTEMPTS = 3;

/**
 * Returns rows whose lease expired (a run died mid-send) to the queue, keeping their batch and so their key,
 * and counts the expiry as an attempt: a message that keeps killing the run that holds it fails as `stuck`
 * at its third attempt, so that it never holds its batch back for good.
 */
export async function recoverExpiredLeases(db: Database, now: number): Promise<{ recovered: number; stuck: number }> {
  const stuck = sql`attempts + 1 >= ${STUCK_AFTER_ATTEMPTS}`;
  const rows = await db.all<{ status: string }>(sql`UPDATE messages SET attempts = attempts + 1, lease_until = NULL,
    status = CASE WHEN ${stuck} THEN 'failed' ELSE 'queued' END,
    reason = CASE WHEN ${stuck} THEN ${`stuck: its lease expired at attempt ${STUCK_AFTER_ATTEMPTS}`} ELSE reason END
    WHERE status = 'sending' AND lease_until < ${now}
    RETURNING status`);
  const failed = rows.filter((r) => r.status === "failed").length;
  return { recovered: rows.length - failed, stuck: failed };
}

/** Claims the earliest due batch that was tried before, whole, so it is sent again with the same key. */
export async function claimRetryBatch(db: Database, now: number): Promise<MessageRow[]> {
  const rows = await db.all<Raw>(sql`UPDATE messages SET status = 'sending', lease_until = ${now + LEASE_MS}
    WHERE status = 'queued' AND batch_id = (
      SELECT batch_id FROM messages WHERE status = 'queued' AND batch_id IS NOT NULL AND due_at <= ${now} ORDER BY due_at LIMIT 1)
    RETURNING ${sql.raw(RETURNING)}`);
  return rows.map(parseRow);
}

/** Claims up to `limit` due messages never tried (optionally only some ids) into a new batch. */
export async function claimNewBatch(db: Database, now: number, batchId: string, limit: number, only?: string[]): Promise<MessageRow[]> {
  const onlyIds = only ? sql`AND id IN (SELECT value FROM json_each(${JSON.stringify(only)}))` : sql``;
  const rows = await db.all<Raw>(sql`UPDATE messages SET status = 'sending', lease_until = ${now + LEASE_MS}, batch_id = ${batchId}
    WHERE id IN (
      SELECT id FROM messages WHERE status = 'queued' AND batch_id IS NULL AND due_at <= ${now} ${onlyIds} ORDER BY due_at LIMIT ${limit})
    RETURNING ${sql.raw(RETURNING)}`);
  if (rows.length > 0) {
    await db.insert(sendBatches).values({ id: batchId, status: "open", attempts: 0, createdAt: now, updatedAt: now }).onConflictDoNothing();
  }
  return rows.map(parseRow);
}

type Raw = Omit<MessageRow, "context" | "headers"> & { context: string | null; headers: string | null };

function parseRow(row: Raw): MessageRow {
  return { ...row, context: row.context ? JSON.parse(row.context) : {}, headers: row.headers ? JSON.parse(row.headers) : null };
}

/** `id IN (…)` over one JSON parameter: a batch of 100 ids stays within D1's bound-parameter limit. */
export function idIn(ids: string[]) {
  return sql`${messages.id} IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`;
}

/** Messages by id (those that exist), in no particular order. */
export async function findMessagesByIds(db: Database, ids: string[]): Promise<MessageRow[]> {
  if (ids.length === 0) return [];
  return db.select().from(messages).where(idIn(ids));
}

/** Raw RETURNING gives snake_case columns; alias them to the drizzle row shape. */
const RETURNING = [
  "id",
  "contact_id AS contactId",
  "to_email AS toEmail",
  "kind",
  "flow_id AS flowId",
  "flow_version AS flowVersion",
  "enrollment_id AS enrollmentId",
  "step_id AS stepId",
  "variant",
  "template_id AS templateId",
  "broadcast_id AS broadcastId",
  "context",
  "status",
  "due_at AS dueAt",
  "attempts",
  "lease_until AS leaseUntil",
  "batch_id AS batchId",
  "provider_id AS providerId",
  "reason",
  "subject",
  "from_email AS fromEmail",
  "html",
  "text",
  "headers",
  "created_at AS createdAt",
  "sent_at AS sentAt",
  "delivered_at AS deliveredAt",
  "opened_at AS openedAt",
  "clicked_at AS clickedAt",
  "bounced_at AS bouncedAt",
  "complained_at AS complainedAt",
].join(", ");

/** Sets final or retry fields on claimed rows (only while they are still ours: status `sending`). */
export function settle(db: Database, ids: string[], fields: Partial<MessageRow>) {
  return db
    .update(messages)
    .set({ leaseUntil: null, ...fields })
    .where(and(idIn(ids), eq(messages.status, "sending")));
}

/**
 * Marks claimed rows sent with each one's provider id, in one statement however many there are (the pairs
 * travel as one JSON parameter): a batch's settling is one write, not one per message.
 */
export function settleSent(db: Database, sent: { id: string; providerId: string }[], now: number) {
  const pairs = JSON.stringify(sent.map(({ id, providerId }) => [id, providerId]));
  return db
    .update(messages)
    .set({
      status: "sent",
      leaseUntil: null,
      reason: null,
      sentAt: now,
      attempts: sql`${messages.attempts} + 1`,
      providerId: sql`(SELECT value ->> 1 FROM json_each(${pairs}) WHERE value ->> 0 = ${messages.id})`,
    })
    .where(and(sql`${messages.id} IN (SELECT value ->> 0 FROM json_each(${pairs}))`, eq(messages.status, "sending")));
}

/** Opens a batch of one, keyed by the message's own id: how a member of a refused batch is sent alone. */
export function openSingleBatch(db: Database, messageId: string, now: number) {
  return db
    .insert(sendBatches)
    .values({ id: messageId, status: "open", attempts: 0, createdAt: now, updatedAt: now })
    .onConflictDoNothing();
}

/** Marks a batch as answered for good, counting the attempt. */
export function closeBatch(db: Database, batchId: string, now: number) {
  return db
    .update(sendBatches)
    .set({ status: "done", attempts: sql`${sendBatches.attempts} + 1`, updatedAt: now })
    .where(eq(sendBatches.id, batchId));
}

/** Counts an attempt on a batch that will be tried again. */
export function countBatchAttempt(db: Database, batchId: string, now: number) {
  return db
    .update(sendBatches)
    .set({ attempts: sql`${sendBatches.attempts} + 1`, updatedAt: now })
    .where(eq(sendBatches.id, batchId));
}

/**
 * Takes one of the `slots` provider-request slots if one is free at `now`: the slot is held until `now +
 * holdMs`. A slot is a row of `send_gate`; rows past `slots` (from a higher rate once configured) are ignored.
 * Returns the slot taken, else when the first slot frees; nothing is reserved then, so a sender that wakes late
 * loses nothing.
 */
export async function takeSendSlot(
  db: Database,
  now: number,
  slots: number,
  holdMs: number,
): Promise<{ slot: number } | { freeAt: number }> {
  const [taken] = await db.all<{ id: number }>(sql`UPDATE send_gate SET next_at = ${now + holdMs}
    WHERE id = (SELECT id FROM send_gate WHERE id <= ${slots} ORDER BY next_at, id LIMIT 1) AND next_at <= ${now}
    RETURNING id`);
  if (taken) return { slot: taken.id };
  const [gate] = await db.all<{ known: number; freeAt: number | null }>(
    sql`SELECT count(*) AS known, min(next_at) AS freeAt FROM send_gate WHERE id <= ${slots}`,
  );
  if (gate && gate.known >= slots && gate.freeAt !== null) return { freeAt: gate.freeAt };
  // The first request at this rate: its slots are created free.
  await db.run(sql`INSERT INTO send_gate (id, next_at)
    WITH RECURSIVE slot(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM slot WHERE id < ${slots})
    SELECT id, 0 FROM slot WHERE true ON CONFLICT(id) DO NOTHING`);
  return { freeAt: now };
}

/** Holds a taken slot until at least `until`: counted from when its request really left, if that was later than planned. */
export function holdSendSlotUntil(db: Database, slot: number, until: number) {
  return db.run(sql`UPDATE send_gate SET next_at = max(next_at, ${until}) WHERE id = ${slot}`);
}

/** Keeps every sender from starting a request before `until` (the provider answered 429 and said when to return). */
export function holdSendGate(db: Database, until: number) {
  return db.run(sql`UPDATE send_gate SET next_at = max(next_at, ${until})`);
}

/**
 * Broadcast rows and the SQL of their fan-out (SPEC section 10). The audience
 * is paged over `contacts AS c` in id order after the cursor kept on the
 * broadcast row; a page is queued by ONE `INSERT … SELECT` whose message ids
 * derive from broadcast and contact (`ON CONFLICT DO NOTHING`) and that, like
 * the cursor's update in the same batch, only applies while the cursor is the
 * one the page was read after. A contact is therefore queued once, whatever
 * crashes, retries or overlapping crons do, and the cursor never passes a page
 * that was not queued.
 */
import { and, asc, eq, type SQL, sql } from "drizzle-orm";
import type { Condition } from "../flows/schema";
import type { Database } from "./client";
import { conditionSql } from "./conditions";
import { type BroadcastRow, type BroadcastStatus, broadcasts } from "./schema";

/** The stats_daily `flow_id` a broadcast's numbers are rolled up under (reports/placement). */
export const broadcastStatsKey = (id: string) => `broadcast:${id}`;

/** A broadcast's message id for a contact, as SQL: the same on every attempt, so a contact is queued at most once. */
const messageIdSql = (broadcastId: string) => sql`'b_' || ${broadcastId} || '_' || c.id`;

/** Who may get a broadcast now: consent `subscribed`, the address not suppressed, and the audience's condition. */
export function audienceSql(condition: Condition | null, now: number): SQL {
  const matches = condition ? conditionSql(condition, now) : sql`1`;
  return sql`c.consent = 'subscribed' AND NOT EXISTS (SELECT 1 FROM suppressions s WHERE s.email = lower(c.email)) AND ${matches}`;
}

/** How many contacts the audience holds now (erased keys are only known to the sender's gate and the fan-out). */
export async function countAudience(db: Database, audience: SQL): Promise<number> {
  const [row] = await db.all<{ n: number }>(sql`SELECT count(*) AS n FROM contacts c WHERE ${audience}`);
  return Number(row?.n ?? 0);
}

export async function findBroadcast(db: Database, id: string): Promise<BroadcastRow | undefined> {
  return db.select().from(broadcasts).where(eq(broadcasts.id, id)).get();
}

export async function listBroadcasts(db: Database): Promise<BroadcastRow[]> {
  return db.select().from(broadcasts).orderBy(asc(broadcasts.createdAt), asc(broadcasts.id));
}

/** Creates or replaces a draft or scheduled broadcast's definition; returns it and whether it was new. */
export async function saveBroadcast(db: Database, id: string, name: string, definition: unknown, sendAt: number | null, now: number) {
  const before = await findBroadcast(db, id);
  const row = await db
    .insert(broadcasts)
    .values({ id, name, definition, sendAt, status: "draft", createdAt: now, updatedAt: now })
    .onConflictDoUpdate({ target: broadcasts.id, set: { name, definition, sendAt, updatedAt: now } })
    .returning()
    .get();
  return { broadcast: row, created: !before };
}

export async function deleteBroadcast(db: Database, id: string): Promise<boolean> {
  const gone = await db.delete(broadcasts).where(eq(broadcasts.id, id)).returning({ id: broadcasts.id });
  return gone.length > 0;
}

/** Moves a broadcast from one status to another, only if it is still in `from`; true when it moved. */
export async function moveBroadcast(
  db: Database,
  id: string,
  from: BroadcastStatus[],
  to: BroadcastStatus,
  now: number,
  fields: Partial<BroadcastRow> = {},
): Promise<boolean> {
  const moved = await db
    .update(broadcasts)
    .set({ ...fields, status: to, updatedAt: now })
    .where(and(eq(broadcasts.id, id), sql`${broadcasts.status} IN (SELECT value FROM json_each(${JSON.stringify(from)}))`))
    .returning({ id: broadcasts.id });
  return moved.length > 0;
}

/** Scheduled broadcasts whose time has come start sending; returns the ids of every broadcast now sending. */
export async function startDueBroadcasts(db: Database, now: number): Promise<string[]> {
  await db
    .update(broadcasts)
    .set({ status: "sending", startedAt: now, updatedAt: now })
    .where(and(eq(broadcasts.status, "scheduled"), sql`${broadcasts.sendAt} <= ${now}`));
  const rows = await db
    .select({ id: broadcasts.id })
    .from(broadcasts)
    .where(eq(broadcasts.status, "sending"))
    .orderBy(asc(broadcasts.sendAt));
  return rows.map((r) => r.id);
}

/** One contact of an audience page. */
export type AudienceMember = { id: string; email: string; timezone: string | null };

/** The next page of the audience after `cursor` (contacts in id order). */
export async function readAudiencePage(db: Database, audience: SQL, cursor: string, limit: number): Promise<AudienceMember[]> {
  return db.all<AudienceMember>(sql`SELECT c.id, c.email, c.timezone FROM contacts c
    WHERE c.id > ${cursor} AND ${audience} ORDER BY c.id LIMIT ${limit}`);
}

/** Which of these erased-address keys are on the suppression list. */
export async function suppressedKeys(db: Database, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await db.all<{ email: string }>(
    sql`SELECT email FROM suppressions WHERE email IN (SELECT value FROM json_each(${JSON.stringify(keys)}))`,
  );
  return new Set(rows.map((r) => r.email));
}

/** What one page's INSERT needs: the page's bounds, who to leave out, and how to fill each message. */
export interface AudiencePage {
  broadcastId: string;
  audience: SQL;
  cursor: string;
  last: string;
  /** Members of the page counted towards the audience's ordinal (the page read, minus erased people). */
  count: number;
  excluded: string[];
  template: string;
  context: Record<string, unknown>;
  /** The A/B sample: the share in percent and each variant as `{name, template?, subject?}`; null without a test. */
  sample: { percent: number; variants: { name: string; template?: string; subject?: string }[] } | null;
  /** Zone → due instant when due times depend on the zone; the default zone names contacts without one. */
  dueByZone: Record<string, number> | null;
  defaultZone: string;
  sendAt: number;
  heldUntil: number;
  /** Contacts sent marketing mail since this instant are skipped (smart sending); null to skip nobody. */
  skipEmailedSince: number | null;
  skipReason: string;
  now: number;
}

/**
 * Queues one page: the messages (an A/B remainder held until the winner is known; recently mailed
 * contacts recorded as `suppressed` with the smart-sending reason), then the cursor's step. Both apply only while
 * the broadcast is sending with the cursor the page was read after; false when another run moved it first.
 */
export async function queueAudiencePage(db: Database, p: AudiencePage): Promise<boolean> {
  const stillAt = sql`EXISTS (SELECT 1 FROM broadcasts b WHERE b.id = ${p.broadcastId} AND b.status = 'sending'
    AND coalesce(b.cursor, '') = ${p.cursor})`;
  const [row] = await db.all<{ fixed: number }>(sql`SELECT fixed FROM broadcasts WHERE id = ${p.broadcastId}`);
  const fixed = Number(row?.fixed ?? 0);
  const percent = p.sample?.percent ?? 0;
  const variants = JSON.stringify(p.sample?.variants ?? []);
  const k = Math.max(1, p.sample?.variants.length ?? 1);
  // D1 binds numbers as REAL, so the array index is cast back to an integer for the JSON path.
  const variant = (field: string) => sql`json_extract(${variants}, '$[' || CAST(p.sampled_before % ${k} AS INTEGER) || '].' || ${field})`;
  const due = p.dueByZone
    ? sql`coalesce((SELECT value FROM json_each(${JSON.stringify(p.dueByZone)}) WHERE key = coalesce(p.timezone, ${p.defaultZone})), ${p.sendAt})`
    : sql`${p.sendAt}`;
  const recent =
    p.skipEmailedSince === null
      ? sql`0`
      : sql`EXISTS (SELECT 1 FROM messages r WHERE r.contact_id = c.id AND r.kind = 'marketing' AND r.status = 'sent'
          AND r.sent_at >= ${p.skipEmailedSince})`;
  const insert = sql`INSERT INTO messages (id, contact_id, to_email, kind, broadcast_id, variant, template_id, subject, context,
      status, reason, due_at, attempts, created_at)
    SELECT p.id, p.contact_id, p.email, 'marketing', ${p.broadcastId},
      CASE WHEN p.sampled THEN ${variant("name")} END,
      CASE WHEN p.sampled THEN coalesce(${variant("template")}, ${p.template}) ELSE ${p.template} END,
      CASE WHEN p.sampled THEN ${variant("subject")} END,
      ${JSON.stringify(p.context)},
      CASE WHEN p.recent THEN 'suppressed' ELSE 'queued' END,
      CASE WHEN p.recent THEN ${p.skipReason} END,
      CASE WHEN NOT p.sampled AND ${percent} > 0 THEN ${p.heldUntil} ELSE ${due} END,
      0, ${p.now}
    FROM (
      SELECT q.*, CAST((q.g + 1) * ${percent} / 100 AS INTEGER) > CAST(q.g * ${percent} / 100 AS INTEGER) AS sampled,
        CAST(q.g * ${percent} / 100 AS INTEGER) AS sampled_before
      FROM (SELECT ${messageIdSql(p.broadcastId)} AS id, c.id AS contact_id, c.email, c.timezone, ${recent} AS recent,
        (${fixed} + row_number() OVER (ORDER BY c.id) - 1) AS g
      FROM contacts c
      WHERE c.id > ${p.cursor} AND c.id <= ${p.last} AND ${p.audience}
        AND c.id NOT IN (SELECT value FROM json_each(${JSON.stringify(p.excluded)}))) AS q
    ) AS p
    WHERE ${stillAt}
    ON CONFLICT DO NOTHING`;
  const step = sql`UPDATE broadcasts SET cursor = ${p.last}, fixed = fixed + ${p.count}, updated_at = ${p.now}
    WHERE id = ${p.broadcastId} AND status = 'sending' AND coalesce(cursor, '') = ${p.cursor} RETURNING id`;
  // Insert first, then step: a crash between the two leaves the cursor behind, and the page's second INSERT adds nobody
  // already queued (their ids conflict), so the page is simply finished by the next run.
  await db.run(insert);
  const moved = await db.all<{ id: string }>(step);
  return moved.length > 0;
}

/** Marks the audience as fully queued (once). */
export async function markFannedOut(db: Database, id: string, now: number): Promise<void> {
  await db.run(sql`UPDATE broadcasts SET fanned_out_at = ${now}, updated_at = ${now}
    WHERE id = ${id} AND status = 'sending' AND fanned_out_at IS NULL`);
}

/** The sample's progress: messages still to go out (not held) and the last send. */
export async function sampleProgress(db: Database, id: string, heldUntil: number) {
  const [row] = await db.all<{ pending: number; lastSent: number | null }>(sql`SELECT
      sum(status IN ('queued', 'sending') AND due_at < ${heldUntil}) AS pending, max(sent_at) AS lastSent
    FROM messages WHERE broadcast_id = ${id}`);
  return { pending: Number(row?.pending ?? 0), lastSent: row?.lastSent ?? null };
}

/** Records the A/B decision once; true when this call made it. */
export async function recordWinner(db: Database, id: string, winner: Record<string, unknown>, now: number): Promise<boolean> {
  const rows = await db.all<{ id: string }>(sql`UPDATE broadcasts SET winner = ${JSON.stringify(winner)}, updated_at = ${now}
    WHERE id = ${id} AND status = 'sending' AND winner IS NULL RETURNING id`);
  return rows.length > 0;
}

/** The zones (or the default) of the contacts whose messages are still held. */
export async function heldZones(db: Database, id: string, heldUntil: number, defaultZone: string): Promise<string[]> {
  const rows = await db.all<{ zone: string }>(sql`SELECT DISTINCT coalesce(c.timezone, ${defaultZone}) AS zone
    FROM messages m JOIN contacts c ON c.id = m.contact_id
    WHERE m.broadcast_id = ${id} AND m.status = 'queued' AND m.due_at = ${heldUntil}`);
  return rows.map((r) => r.zone);
}

/** Releases up to `limit` held messages with the winner's template and subject; returns how many. */
export async function releaseHeld(
  db: Database,
  id: string,
  heldUntil: number,
  winner: { template: string; subject: string | null },
  due: { byZone: Record<string, number> | null; defaultZone: string; at: number },
  limit: number,
): Promise<number> {
  const dueAt = due.byZone
    ? sql`coalesce((SELECT value FROM json_each(${JSON.stringify(due.byZone)})
        WHERE key = (SELECT coalesce(c.timezone, ${due.defaultZone}) FROM contacts c WHERE c.id = messages.contact_id)), ${due.at})`
    : sql`${due.at}`;
  const rows = await db.all<{ id: string }>(sql`UPDATE messages SET due_at = ${dueAt}, template_id = ${winner.template},
      subject = ${winner.subject}
    WHERE id IN (SELECT id FROM messages WHERE broadcast_id = ${id} AND status = 'queued' AND due_at = ${heldUntil} LIMIT ${limit})
    RETURNING id`);
  return rows.length;
}

/** Cancels up to `limit` of a broadcast's messages not yet handed to the provider; returns how many. */
export async function cancelUnsent(db: Database, id: string, limit: number): Promise<number> {
  const rows = await db.all<{ id: string }>(sql`UPDATE messages SET status = 'cancelled', reason = 'broadcast cancelled', lease_until = NULL
    WHERE id IN (SELECT id FROM messages WHERE broadcast_id = ${id} AND status = 'queued' LIMIT ${limit}) RETURNING id`);
  return rows.length;
}

/** A broadcast's messages by outcome: the smart-sending skips and the held A/B remainder apart from their status. */
export async function messageOutcomes(db: Database, id: string, skipReasonPrefix: string, heldUntil: number) {
  const [row] = await db.all<Record<string, number | null>>(sql`SELECT count(*) AS total,
      sum(status = 'queued' AND due_at <> ${heldUntil}) AS queued, sum(status = 'queued' AND due_at = ${heldUntil}) AS held,
      sum(status = 'sending') AS sending, sum(status = 'sent') AS sent, sum(status = 'failed') AS failed,
      sum(status = 'suppressed' AND coalesce(reason, '') NOT LIKE ${`${skipReasonPrefix}%`}) AS suppressed,
      sum(status = 'suppressed' AND coalesce(reason, '') LIKE ${`${skipReasonPrefix}%`}) AS skipped,
      sum(status = 'cancelled') AS cancelled
    FROM messages WHERE broadcast_id = ${id}`);
  const n = (key: string) => Number(row?.[key] ?? 0);
  return {
    total: n("total"),
    queued: n("queued"),
    held: n("held"),
    sending: n("sending"),
    sent: n("sent"),
    failed: n("failed"),
    suppressed: n("suppressed"),
    skipped_recently_emailed: n("skipped"),
    cancelled: n("cancelled"),
  };
}

/** Whether any of the broadcast's messages may still go out (queued, held or being sent). */
export async function hasUnsent(db: Database, id: string): Promise<boolean> {
  const [row] = await db.all<{ n: number }>(sql`SELECT count(*) AS n FROM (SELECT 1 FROM messages
    WHERE broadcast_id = ${id} AND status IN ('queued', 'sending') LIMIT 1)`);
  return Number(row?.n ?? 0) > 0;
}

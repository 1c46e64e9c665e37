/**
 * Retention, run by the daily cron: deletes what Nurture no longer needs, in
 * bounded pages so that one run stays inside an invocation's limits (D1 on
 * Workers Free: 50 queries per invocation; this job uses at most
 * `RETENTION_MAX_STATEMENTS`). What a run leaves is taken up by the next day's.
 * - Raw tracking events (sends, deliveries, opens, clicks, bounces,
 *   complaints, page views) older than `RETENTION_DAYS`. Reports read the
 *   rollups, which count an event in the invocation that stores it, so an
 *   event stored less than a day ago is never deleted whatever its time.
 *   Kept are the rows the rollups' "first" rule still reads (reports/rollups.ts):
 *   per message, its first human open-or-click and its first human click, so
 *   that a late open of an old message is not counted as a first open again.
 * - The rendered bodies (html, text) of sent messages after 30 days; the row,
 *   its status and its times stay.
 * - Send batches answered for good once the provider's idempotency window has
 *   passed, and open batches no message waits on any more.
 * - Webhook receipts once the provider has stopped retrying.
 * Events are deleted newest-expired first, so each day's expiry is taken
 * first, and a backlog (a first run over a long history) shrinks day by day.
 */
import { sql } from "drizzle-orm";
import type { Database } from "./client";

const DAY_MS = 86_400_000;

/** The tracking events retention deletes; other events (orders, the API's own, consent changes) are kept. */
export const EXPIRING_EVENT_NAMES = [
  "email_sent",
  "email_delivered",
  "email_delivery_delayed",
  "email_opened",
  "email_clicked",
  "email_bounced",
  "email_complained",
  "page_viewed",
] as const;

/** How long rendered bodies of sent messages are kept. */
export const BODY_RETENTION_DAYS = 30;
/** How long answered send batches are kept: longer than the provider's 24 h idempotency-key window. */
export const BATCH_RETENTION_DAYS = 2;
/** How long webhook receipts are kept: longer than Svix's retry schedule (about a day). */
export const RECEIPT_RETENTION_DAYS = 7;
/** Grace after storage before an event may go: its rollup runs in the invocation that stores it. */
const ROLLED_UP_AFTER_MS = DAY_MS;

// Per run: up to 100,000 events and 20,000 bodies, in 23 statements (see RETENTION_MAX_STATEMENTS).
export const EVENT_PAGE = 10_000;
export const EVENT_PAGES = 10;
const BODY_PAGE = 2000;
const BODY_PAGES = 10;
const ROW_PAGE = 5000;
/** The most statements one run issues: event pages, body pages, two batch deletes and one receipt delete. */
export const RETENTION_MAX_STATEMENTS = EVENT_PAGES + BODY_PAGES + 3;

const expiringNames = sql.raw(EXPIRING_EVENT_NAMES.map((n) => `'${n}'`).join(", "));

/** What one run deleted. `complete` is false when a page limit stopped it (the next run goes on). */
export interface RetentionReport {
  events: number;
  bodies: number;
  batches: number;
  receipts: number;
  complete: boolean;
}

/** Deletes expired tracking events, old bodies, batches and receipts, within the run's page limits. */
export async function applyRetention(db: Database, now: number, retentionDays: number): Promise<RetentionReport> {
  const events = await deleteExpiredEvents(db, now - retentionDays * DAY_MS, now - ROLLED_UP_AFTER_MS);
  const bodies = await clearOldBodies(db, now - BODY_RETENTION_DAYS * DAY_MS);
  const batchCutoff = now - BATCH_RETENTION_DAYS * DAY_MS;
  const done = await db.all(sql`DELETE FROM send_batches WHERE rowid IN (
      SELECT rowid FROM send_batches WHERE status = 'done' AND updated_at < ${batchCutoff} LIMIT ${ROW_PAGE}) RETURNING 1`);
  // An open batch whose messages were all settled otherwise (sent alone, cancelled) is never closed.
  const orphaned = await db.all(sql`DELETE FROM send_batches WHERE rowid IN (
      SELECT b.rowid FROM send_batches b WHERE b.status = 'open' AND b.updated_at < ${batchCutoff} AND NOT EXISTS (
        SELECT 1 FROM messages m WHERE m.batch_id = b.id AND m.status IN ('queued', 'sending')) LIMIT ${ROW_PAGE}) RETURNING 1`);
  const receipts = await db.all(sql`DELETE FROM webhook_receipts WHERE rowid IN (
      SELECT rowid FROM webhook_receipts WHERE received_at < ${now - RECEIPT_RETENTION_DAYS * DAY_MS} LIMIT ${ROW_PAGE}) RETURNING 1`);
  return {
    events: events.deleted,
    bodies: bodies.cleared,
    batches: done.length + orphaned.length,
    receipts: receipts.length,
    complete: events.complete && bodies.complete && done.length < ROW_PAGE && orphaned.length < ROW_PAGE && receipts.length < ROW_PAGE,
  };
}

/**
 * Deletes tracking events with `ts` before `cutoff` (and stored before `storedBefore`), newest first, page by
 * page below the last row deleted. Each page is one statement over the partial index `events_expiring_ts_idx`.
 */
async function deleteExpiredEvents(db: Database, cutoff: number, storedBefore: number) {
  let below: { ts: number; rowid: number } | null = null;
  let deleted = 0;
  for (let page = 0; page < EVENT_PAGES; page++) {
    const after = below ? sql`AND (e.ts, e.rowid) < (${below.ts}, ${below.rowid})` : sql``;
    const rows: { ts: number; rowid: number }[] = await db.all(sql`DELETE FROM events WHERE rowid IN (
        SELECT e.rowid FROM events e INDEXED BY events_expiring_ts_idx
        WHERE e.name IN (${expiringNames}) AND e.ts < ${cutoff} ${after} AND e.received_at < ${storedBefore}
          AND NOT (e.machine = 0 AND e.message_id IS NOT NULL AND (
            (e.name IN ('email_opened', 'email_clicked') AND NOT EXISTS (SELECT 1 FROM events p
              WHERE p.message_id = e.message_id AND p.name IN ('email_opened', 'email_clicked') AND p.machine = 0 AND p.rowid < e.rowid))
            OR (e.name = 'email_clicked' AND NOT EXISTS (SELECT 1 FROM events p
              WHERE p.message_id = e.message_id AND p.name = 'email_clicked' AND p.machine = 0 AND p.rowid < e.rowid))))
        ORDER BY e.ts DESC, e.rowid DESC LIMIT ${EVENT_PAGE})
      RETURNING ts, rowid`);
    deleted += rows.length;
    if (rows.length < EVENT_PAGE) return { deleted, complete: true };
    below = rows.reduce((low, r) => (r.ts < low.ts || (r.ts === low.ts && r.rowid < low.rowid) ? r : low));
  }
  return { deleted, complete: false };
}

/** Clears html and text of messages sent before `cutoff`, page by page over the partial index `messages_body_sent_idx`. */
async function clearOldBodies(db: Database, cutoff: number) {
  let cleared = 0;
  for (let page = 0; page < BODY_PAGES; page++) {
    const rows = await db.all(sql`UPDATE messages SET html = NULL, text = NULL WHERE rowid IN (
        SELECT rowid FROM messages INDEXED BY messages_body_sent_idx WHERE html IS NOT NULL AND status = 'sent' AND sent_at < ${cutoff} LIMIT ${BODY_PAGE})
      RETURNING 1`);
    cleared += rows.length;
    if (rows.length < BODY_PAGE) return { cleared, complete: true };
  }
  return { cleared, complete: false };
}

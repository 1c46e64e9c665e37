/**
 * The `tracking_dead_letters` table: opens and clicks the tracking queue gave
 * up on, kept for the dashboard to show and send back. Lists go in as one JSON
 * parameter, so a batch of any size is one statement.
 */
import { sql } from "drizzle-orm";
import type { Database } from "./client";

/** A dead letter as the dead-letter queue delivers it. */
export interface DeadLetterInsert {
  id: string;
  body: string;
  reason: string;
  queuedAt: number;
}

/** A kept dead letter. */
export interface DeadLetter extends DeadLetterInsert {
  deadAt: number;
}

/** Keeps dead letters; one already kept (a redelivery from the dead-letter queue) is left as it is. */
export async function keepDeadLetters(db: Database, letters: DeadLetterInsert[], now: number): Promise<void> {
  if (letters.length === 0) return;
  await db.run(sql`INSERT INTO tracking_dead_letters (id, body, reason, queued_at, dead_at)
    SELECT j.value ->> '$.id', j.value ->> '$.body', j.value ->> '$.reason', j.value ->> '$.queuedAt', ${now}
    FROM json_each(${JSON.stringify(letters)}) AS j WHERE true
    ON CONFLICT(id) DO NOTHING`);
}

/** How many dead letters are kept, and the newest `limit` of them. */
export async function deadLetterSummary(db: Database, limit: number): Promise<{ count: number; newest: DeadLetter[] }> {
  const [counted] = await db.all<{ n: number }>(sql`SELECT count(*) AS n FROM tracking_dead_letters`);
  const newest = await db.all<DeadLetter>(sql`SELECT id, body, reason, queued_at AS queuedAt, dead_at AS deadAt
    FROM tracking_dead_letters ORDER BY dead_at DESC, id LIMIT ${limit}`);
  return { count: counted?.n ?? 0, newest };
}

/** The oldest `limit` dead letters, to send back to the queue. */
export function oldestDeadLetters(db: Database, limit: number): Promise<DeadLetter[]> {
  return db.all<DeadLetter>(sql`SELECT id, body, reason, queued_at AS queuedAt, dead_at AS deadAt
    FROM tracking_dead_letters ORDER BY dead_at, id LIMIT ${limit}`);
}

/** Forgets dead letters (sent back to the queue). */
export async function forgetDeadLetters(db: Database, ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.run(sql`DELETE FROM tracking_dead_letters WHERE id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`);
}

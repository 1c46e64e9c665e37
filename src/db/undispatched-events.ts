/**
 * The `undispatched_events` table: stored events that their contact's
 * ContactTimer has not processed yet. Lists go in as one JSON parameter, so a
 * batch of any size is one statement.
 */
import { sql } from "drizzle-orm";
import type { Database } from "./client";

/** An event waiting to be handed to its contact's ContactTimer again. */
export interface UndispatchedEvent {
  eventId: string;
  contactId: string;
  attempts: number;
}

/** Keeps events whose dispatch failed, due at the next cron run; an event already kept keeps its count. */
export async function keepUndispatched(
  db: Database,
  events: { id: string; contactId: string; error: string }[],
  now: number,
): Promise<void> {
  if (events.length === 0) return;
  await db.run(sql`INSERT INTO undispatched_events (event_id, contact_id, attempts, next_at, last_error, created_at)
    SELECT j.value ->> '$.id', j.value ->> '$.contactId', 1, ${now}, j.value ->> '$.error', ${now}
    FROM json_each(${JSON.stringify(events)}) AS j WHERE true
    ON CONFLICT(event_id) DO NOTHING`);
}

/** The events due for another dispatch of at most `contacts` contacts (one ContactTimer call each), oldest due first. */
export function dueUndispatched(db: Database, now: number, contacts: number): Promise<UndispatchedEvent[]> {
  return db.all<UndispatchedEvent>(sql`SELECT event_id AS eventId, contact_id AS contactId, attempts FROM undispatched_events
    WHERE next_at <= ${now} AND contact_id IN (
      SELECT contact_id FROM undispatched_events WHERE next_at <= ${now} GROUP BY contact_id ORDER BY min(next_at) LIMIT ${contacts})
    ORDER BY next_at`);
}

/** Forgets events that were dispatched (or no longer exist). */
export async function forgetUndispatched(db: Database, eventIds: string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await db.run(sql`DELETE FROM undispatched_events WHERE event_id IN (SELECT value FROM json_each(${JSON.stringify(eventIds)}))`);
}

/** Counts one more failed dispatch of each event, with its error and when it is tried next. */
export async function postponeUndispatched(db: Database, retries: { eventId: string; nextAt: number; error: string }[]): Promise<void> {
  if (retries.length === 0) return;
  await db.run(sql`UPDATE undispatched_events SET attempts = attempts + 1, last_error = r.value ->> '$.error', next_at = r.value ->> '$.nextAt'
    FROM json_each(${JSON.stringify(retries)}) AS r WHERE undispatched_events.event_id = r.value ->> '$.eventId'`);
}

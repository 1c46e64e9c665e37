/**
 * The one path by which an event enters Nurture: store it (once per id), keep
 * the contact's order totals, and hand it to the contact's ContactTimer.
 * Redelivery is safe end to end: storage ignores a known id, and the
 * ContactTimer ignores an event id it has already processed, so a caller that
 * retries after a failure re-dispatches without doubling anything.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { applyOrderTotals, type EventInsert, insertEvents, loadContactEvents } from "../db/events";
import { activeFlowsTriggeredBy } from "../db/flows";
import { deliverMessagesNow } from "../delivery/sender";
import { type Env, readConfig } from "../env";
import { attributionWindows } from "../reports/attribution";
import { rollupEvents } from "../reports/rollups";
import type { ContactEvent } from "./contact-event";

/** How many ContactTimers are called at once for one batch. */
const DISPATCH_CONCURRENCY = 32;

/** Result of recording a batch: which ids were new, and which were already known. */
export interface RecordResult {
  newIds: Set<string>;
}

/**
 * Stores events, dispatches every one that names a contact to that contact's ContactTimer, and sends the
 * messages they queued that are due now (a first welcome email leaves within seconds, not at the next cron
 * minute), batched across contacts.
 */
export async function recordEvents(
  env: Env,
  db: Database,
  rows: EventInsert[],
  now: number,
  { onlyListening = false } = {},
): Promise<RecordResult> {
  const { newIds, stored } = await storeEvents(env, db, rows, now);
  const listening = onlyListening ? await listeningContacts(db, stored) : null;
  const dueNow = await dispatchToContacts(env, listening ? stored.filter((e) => listening.has(e.contactId)) : stored);
  if (dueNow.length > 0) await deliverMessagesNow(env, dueNow);
  return { newIds };
}

/**
 * Of the events' contacts, those whose ContactTimer can react to them: every one when an active flow may start
 * on one of these event names (or on a segment), else only those in a running flow. For the system's own
 * high-volume events (`email_sent`, opens and clicks), where calling every contact's object would cost more than
 * the event is worth.
 */
async function listeningContacts(db: Database, events: ContactEvent[]): Promise<Set<string> | null> {
  for (const name of new Set(events.map((e) => e.name))) {
    if ((await activeFlowsTriggeredBy(db, name, null)).length > 0) return null;
  }
  const ids = JSON.stringify([...new Set(events.map((e) => e.contactId))]);
  const rows = await db.all<{ id: string }>(sql`SELECT DISTINCT contact_id AS id FROM enrollments
    WHERE status = 'active' AND contact_id IN (SELECT value FROM json_each(${ids}))`);
  return new Set(rows.map((r) => r.id));
}

/** Stores events and keeps order totals without dispatching: for the ContactTimer's own events, which it processes itself. */
export async function storeEvents(
  env: Env,
  db: Database,
  rows: EventInsert[],
  now: number,
): Promise<RecordResult & { stored: ContactEvent[] }> {
  const newIds = await insertEvents(db, rows, now);
  if (newIds.size > 0) {
    await applyOrderTotals(db, newIds);
    // Rollups count each event once: only the newly stored ones.
    await rollupEvents(
      db,
      [...newIds].map((id) => ({ id })),
      now,
      attributionWindows(readConfig(env)),
    );
  }
  const stored = await loadContactEvents(
    db,
    rows.filter((r) => r.contactId).map((r) => r.id),
  );
  return { newIds, stored };
}

/** Hands events to their contacts' ContactTimers, each contact's events in time order; returns the messages they queued due now. */
export async function dispatchToContacts(env: Env, stored: ContactEvent[]): Promise<string[]> {
  const byContact = new Map<string, ContactEvent[]>();
  for (const event of stored) {
    const list = byContact.get(event.contactId) ?? [];
    list.push(event);
    byContact.set(event.contactId, list);
  }
  const work = [...byContact.entries()];
  const dueNow: string[] = [];
  const run = async () => {
    for (let next = work.pop(); next; next = work.pop()) {
      const [contactId, list] = next;
      // A stable sort: events with the same time keep the order they were sent in.
      list.sort((a, b) => a.ts - b.ts);
      dueNow.push(...(await contactTimer(env, contactId).receiveEvents(list)).dueNow);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DISPATCH_CONCURRENCY, work.length) }, run));
  return dueNow;
}

/** The ContactTimer stub of a contact. */
export function contactTimer(env: Env, contactId: string) {
  return env.CONTACT_TIMER.get(env.CONTACT_TIMER.idFromName(contactId));
}

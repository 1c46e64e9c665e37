/**
 * The one path by which an event enters Nurture: store it (once per id), keep
 * the contact's order totals, and hand it to the contact's ContactTimer.
 * Redelivery is safe end to end: storage ignores a known id, and the
 * ContactTimer ignores an event id it has already processed, so a caller that
 * retries after a failure re-dispatches without doubling anything. A
 * ContactTimer call that fails is retried at once, and what still fails is
 * kept in D1 and handed over again by the cron: a stored event is never left
 * unprocessed.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { applyOrderTotals, type EventInsert, insertEvents, loadContactEvents } from "../db/events";
import { activeFlowsTriggeredBy } from "../db/flows";
import { dueUndispatched, forgetUndispatched, keepUndispatched, postponeUndispatched } from "../db/undispatched-events";
import { deliverMessagesNow } from "../delivery/sender";
import { type Env, readConfig } from "../env";
import { attributionWindows } from "../reports/attribution";
import { rollupEvents } from "../reports/rollups";
import type { TimerCallBudget } from "./call-budget";
import type { ContactEvent } from "./contact-event";

/** How many ContactTimers are called at once for one batch. */
const DISPATCH_CONCURRENCY = 32;
/** Calls to one ContactTimer within a dispatch before its events are kept for the cron. */
const DISPATCH_ATTEMPTS = 3;
/** The pause before the second call; the next one waits four times longer. */
const FIRST_DISPATCH_RETRY_MS = 50;
/** Contacts whose kept events one cron run hands over, at most (and within the invocation's ContactTimer calls). */
const REDISPATCH_CONTACTS = 500;
/** The wait after a cron re-dispatch fails, doubling with each failure… */
const REDISPATCH_DELAY_MS = 60_000;
/** …up to this. */
const MAX_REDISPATCH_DELAY_MS = 3_600_000;

/** Result of recording a batch: which ids were new, and which were already known. */
export interface RecordResult {
  newIds: Set<string>;
}

/**
 * Stores events, dispatches every one that names a contact to that contact's ContactTimer, and sends the
 * messages they queued that are due now (a first welcome email leaves within seconds, not at the next cron
 * minute), batched across contacts. With `calls` (the cron's budget), contacts past it have their events kept
 * for the next cron run instead of called now.
 */
export async function recordEvents(
  env: Env,
  db: Database,
  rows: EventInsert[],
  now: number,
  { onlyListening = false, calls }: { onlyListening?: boolean; calls?: TimerCallBudget } = {},
): Promise<RecordResult> {
  const { newIds, stored } = await storeEvents(env, db, rows, now);
  const listening = onlyListening ? await listeningContacts(db, stored) : null;
  const dueNow = await dispatchToContacts(env, db, listening ? stored.filter((e) => listening.has(e.contactId)) : stored, now, calls);
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

/**
 * Hands events to their contacts' ContactTimers, each contact's events in time order; returns the messages they
 * queued due now. A contact whose ContactTimer still fails after a few calls has its events kept in
 * `undispatched_events`, which the every-minute cron hands over again, so a stored event is always processed.
 */
async function dispatchToContacts(env: Env, db: Database, stored: ContactEvent[], now: number, calls?: TimerCallBudget): Promise<string[]> {
  const { dueNow, failed } = await handToContacts(env, stored, calls);
  await keepUndispatched(
    db,
    failed.flatMap(({ events, error }) => events.map((e) => ({ id: e.id, contactId: e.contactId, error }))),
    now,
  );
  return dueNow;
}

/**
 * The every-minute cron's part: hands kept events to their ContactTimers again and sends what they queued due
 * now. A repeat is harmless, since a ContactTimer ignores an event id it has processed; what fails again waits
 * twice as long as before, up to an hour, and stays kept until it goes through.
 */
export async function redispatchUndispatched(env: Env, db: Database, now: number, calls: TimerCallBudget): Promise<void> {
  const due = await dueUndispatched(db, now, Math.min(REDISPATCH_CONTACTS, calls.remaining));
  if (due.length === 0) return;
  const events = await loadContactEvents(
    db,
    due.map((d) => d.eventId),
  );
  const { dueNow, failed } = await handToContacts(env, events, calls);
  const failedIds = new Set(failed.flatMap((f) => f.events.map((e) => e.id)));
  // Dispatched now, or gone with an erased contact.
  await forgetUndispatched(
    db,
    due.filter((d) => !failedIds.has(d.eventId)).map((d) => d.eventId),
  );
  const attempts = new Map(due.map((d) => [d.eventId, d.attempts]));
  await postponeUndispatched(
    db,
    failed.flatMap(({ events: kept, error }) =>
      kept.map((e) => ({
        eventId: e.id,
        nextAt: now + Math.min(MAX_REDISPATCH_DELAY_MS, REDISPATCH_DELAY_MS * 2 ** ((attempts.get(e.id) ?? 1) - 1)),
        error,
      })),
    ),
  );
  if (dueNow.length > 0) await deliverMessagesNow(env, dueNow);
}

/**
 * Calls each contact's ContactTimer with its events, a few contacts at once; returns what they queued and what
 * failed. Contacts past the budget are not called: their events come back as failed, to be kept for the cron.
 */
async function handToContacts(
  env: Env,
  stored: ContactEvent[],
  calls?: TimerCallBudget,
): Promise<{ dueNow: string[]; failed: { events: ContactEvent[]; error: string }[] }> {
  const byContact = new Map<string, ContactEvent[]>();
  for (const event of stored) {
    const list = byContact.get(event.contactId) ?? [];
    list.push(event);
    byContact.set(event.contactId, list);
  }
  const all = [...byContact.entries()];
  const granted = calls ? calls.take(all.length) : all.length;
  const work = all.slice(0, granted);
  const dueNow: string[] = [];
  const failed: { events: ContactEvent[]; error: string }[] = all
    .slice(granted)
    .map(([, events]) => ({ events, error: "deferred: this invocation's ContactTimer calls were spent" }));
  const run = async () => {
    for (let next = work.pop(); next; next = work.pop()) {
      const [contactId, list] = next;
      // A stable sort: events with the same time keep the order they were sent in.
      list.sort((a, b) => a.ts - b.ts);
      const result = await receiveWithRetries(env, contactId, list);
      if ("error" in result) failed.push({ events: list, error: result.error });
      else dueNow.push(...result.dueNow);
    }
  };
  await Promise.all(Array.from({ length: Math.min(DISPATCH_CONCURRENCY, work.length) }, run));
  return { dueNow, failed };
}

/** Calls one ContactTimer, again after a short pause when the call fails (an object reset or a lost connection). */
async function receiveWithRetries(env: Env, contactId: string, events: ContactEvent[]): Promise<{ dueNow: string[] } | { error: string }> {
  let error: unknown;
  for (let attempt = 1; attempt <= DISPATCH_ATTEMPTS; attempt++) {
    try {
      // A fresh stub per call: a stub that has thrown may stay broken.
      return { dueNow: (await contactTimer(env, contactId).receiveEvents(events)).dueNow };
    } catch (e) {
      error = e;
      // An overloaded object is left alone; the cron comes back to it.
      if ((e as { overloaded?: boolean }).overloaded) break;
      if (attempt < DISPATCH_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, FIRST_DISPATCH_RETRY_MS * 4 ** (attempt - 1)));
    }
  }
  console.error(
    JSON.stringify({ msg: "ContactTimer call failed; its events are kept for the cron", contact_id: contactId, error: String(error) }),
  );
  return { error: String(error).slice(0, 500) };
}

/** The ContactTimer stub of a contact. */
export function contactTimer(env: Env, contactId: string) {
  return env.CONTACT_TIMER.get(env.CONTACT_TIMER.idFromName(contactId));
}

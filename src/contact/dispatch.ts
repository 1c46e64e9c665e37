/**
 * Dispatching stored events to their contacts' ContactTimers: each contact's events in time order, a few
 * contacts at once, a failed call retried at once, and what still fails kept in `undispatched_events` for the
 * every-minute cron. Redelivery is safe: a ContactTimer ignores an event id it has already processed. Returns the
 * ids of the messages the timers queued due now; sending them is the pipeline's part (src/pipeline).
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import type { ContactEvent } from "../db/contact-event";
import { loadContactEvents } from "../db/events";
import { activeFlowsTriggeredBy } from "../db/flows";
import { dueUndispatched, forgetUndispatched, keepUndispatched, postponeUndispatched } from "../db/undispatched-events";
import type { Env } from "../env";
import type { TimerCallBudget } from "./call-budget";

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

/** How stored events are handed over. */
export interface DispatchOptions {
  /**
   * Call only the contacts that can react (see `listeningContacts`): for the system's own high-volume events
   * (`email_sent`, opens, clicks, provider reports), where calling every contact's object would cost more than
   * the event is worth.
   */
  onlyListening?: boolean;
  /** The invocation's ContactTimer calls; contacts past it have their events kept for the next cron run. */
  calls?: TimerCallBudget;
}

/**
 * Hands events to their contacts' ContactTimers; returns the messages they queued due now. A contact whose
 * ContactTimer still fails after a few calls has its events kept in `undispatched_events`.
 */
export async function dispatchEvents(
  env: Env,
  db: Database,
  stored: ContactEvent[],
  now: number,
  { onlyListening = false, calls }: DispatchOptions = {},
): Promise<string[]> {
  const listening = onlyListening ? await listeningContacts(db, stored) : null;
  const { dueNow, failed } = await handToContacts(env, listening ? stored.filter((e) => listening.has(e.contactId)) : stored, calls);
  await keepUndispatched(
    db,
    failed.flatMap(({ events, error }) => events.map((e) => ({ id: e.id, contactId: e.contactId, error }))),
    now,
  );
  return dueNow;
}

/**
 * Of the events' contacts, those whose ContactTimer can react to them: every one when an active flow may start
 * on one of these event names (or on a segment), else only those in a running flow.
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

/**
 * The every-minute cron's part: hands kept events to their ContactTimers again; returns what they queued due
 * now. A repeat is harmless, since a ContactTimer ignores an event id it has processed; what fails again waits
 * twice as long as before, up to an hour, and stays kept until it goes through.
 */
export async function redispatchKept(env: Env, db: Database, now: number, calls: TimerCallBudget): Promise<string[]> {
  const due = await dueUndispatched(db, now, Math.min(REDISPATCH_CONTACTS, calls.remaining));
  if (due.length === 0) return [];
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
  return dueNow;
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

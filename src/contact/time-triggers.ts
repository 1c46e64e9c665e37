/**
 * Date and inactivity triggers (`{date}`, `{inactive_for}`): one page of a flow's scan. Once a day, and when
 * such a flow is activated, contact/contact-scans walks the contacts the flow could start for in the next two
 * days a page at a time, and each page hands every occurrence found to the contact's ContactTimer, which fires
 * it at its local time through its alarm (and checks then that the date has not moved). Custom date attributes
 * and the system dates (`last_order_at`, `last_opened_at`, `last_clicked_at`, `created_at`) are scanned alike.
 * An occurrence is named by flow, contact and date, so rescans, repeated pages and retries never enroll twice.
 */
import { and, asc, gt, type SQL, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { contactFacts } from "../db/contacts";
import type { StoredFlow } from "../db/flows";
import { contacts } from "../db/schema";
import type { Env } from "../env";
import { TIME_ATTRIBUTES } from "../flows/conditions";
import { durationMs } from "../flows/duration";
import { OCCURRENCE_GRACE_MS as GRACE_MS, type TimeOccurrence, timeTriggerOccurrence } from "../flows/time-trigger";
import { callEachTimer, type TimerCallBudget } from "./call-budget";
import type { ScheduledTrigger } from "./contact-timer";
import { contactTimer } from "./dispatch";

const DAY_MS = 86_400_000;
/** Occurrences up to this far ahead are handed over at each scan (the daily scan may run late). */
const LOOKAHEAD_MS = 2 * DAY_MS;
/** A flow activated or edited this recently is scanned without the lower bound, so every matching contact enters. */
const FRESH_FLOW_MS = 2 * DAY_MS;

/** Where a page ended: the last contact id it covered, or null when the walk reached the end. */
export type PageEnd = string | null;

/** What one page of a contact scan works from: the flow, the cursor it starts after, the clock and its limits. */
export interface ScanPage {
  env: Env;
  db: Database;
  flow: StoredFlow;
  after: string;
  now: number;
  calls: TimerCallBudget;
  /** The most contacts the page reads. */
  readRows: number;
}

/** The end of a page that read `ids` of the `limit` it asked for: a short page reached the end of the walk. */
export function pageEnd(ids: readonly string[], limit: number): PageEnd {
  return ids.length < limit ? null : (ids[ids.length - 1] ?? null);
}

/**
 * Hands over the date occurrences due soon among the next `readRows` contacts after `after` that have the
 * attribute, as many as the budget allows; the page ends at the last contact handed over when the budget runs out.
 */
export async function dateScanPage({ env, db, flow, after, now, calls, readRows }: ScanPage): Promise<PageEnd> {
  const trigger = flow.definition.trigger;
  if (!("date" in trigger)) return null;
  const rows = await contactsAfter(db, hasDate(trigger.date.attribute), after, readRows);
  const zone = flow.definition.settings?.timezone ?? "UTC";
  const due: { contactId: string; found: TimeOccurrence }[] = [];
  for (const row of rows) {
    const found = timeTriggerOccurrence(flow.id, trigger, contactFacts(row, false), zone, now - GRACE_MS);
    if (found && found.fireAt >= now - GRACE_MS && found.fireAt < now + LOOKAHEAD_MS) due.push({ contactId: row.id, found });
  }
  const granted = calls.take(due.length);
  await handOver(env, flow.id, due.slice(0, granted));
  if (granted < due.length) return due[granted - 1]?.contactId ?? after;
  return pageEnd(
    rows.map((r) => r.id),
    readRows,
  );
}

/** Hands over the inactive spells due soon among the next contacts after `after`, as many as the budget allows. */
export async function inactiveScanPage({ env, db, flow, after, now, calls, readRows }: ScanPage): Promise<PageEnd> {
  const trigger = flow.definition.trigger;
  if (!("inactive_for" in trigger)) return null;
  const inactiveMs = durationMs(trigger.inactive_for);
  const lastEngaged = sql`max(coalesce(c.last_opened_at, 0), coalesce(c.last_clicked_at, 0), c.created_at)`;
  const fresh = now - flow.updatedAt < FRESH_FLOW_MS;
  const window = fresh
    ? sql`${lastEngaged} <= ${now + LOOKAHEAD_MS - inactiveMs}`
    : sql`${lastEngaged} <= ${now + LOOKAHEAD_MS - inactiveMs} AND ${lastEngaged} > ${now - GRACE_MS - DAY_MS - inactiveMs}`;
  const limit = Math.min(readRows, calls.remaining);
  const rows = await contactsAfter(db, window, after, limit);
  calls.take(rows.length);
  const zone = flow.definition.settings?.timezone ?? "UTC";
  const due = rows.flatMap((row) => {
    const found = timeTriggerOccurrence(flow.id, trigger, contactFacts(row, false), zone, now);
    // A spell that began long ago (a freshly activated flow) starts now, not in the past.
    return found ? [{ contactId: row.id, found: { ...found, fireAt: Math.max(found.fireAt, now) } }] : [];
  });
  await handOver(env, flow.id, due);
  return pageEnd(
    rows.map((r) => r.id),
    limit,
  );
}

/** The condition that a contact has the date: a system date's column, else the custom attribute. */
function hasDate(attribute: string): SQL {
  if (TIME_ATTRIBUTES.has(attribute)) return sql.raw(`c.${attribute} IS NOT NULL`);
  const path = `$."${attribute.replaceAll('"', '""')}"`;
  // json_valid: one contact's unreadable attributes (nested past SQLite's limit) must not stop the scan for everyone.
  return sql`json_extract(CASE WHEN json_valid(c.attributes) THEN c.attributes END, ${path}) IS NOT NULL`;
}

/** Up to `limit` contacts matching `where` after `after`, in id order. */
function contactsAfter(db: Database, where: SQL, after: string, limit: number) {
  const c = alias(contacts, "c");
  return db
    .select()
    .from(c)
    .where(and(where, gt(c.id, after)))
    .orderBy(asc(c.id))
    .limit(limit);
}

/** Gives each occurrence to its contact's ContactTimer; one that keeps failing is left to the next daily scan. */
function handOver(env: Env, flowId: string, due: { contactId: string; found: TimeOccurrence }[]): Promise<void> {
  const triggers: ScheduledTrigger[] = due.map(({ contactId, found }) => ({ contactId, flowId, ...found }));
  return callEachTimer(
    triggers,
    (t) => contactTimer(env, t.contactId).scheduleTrigger(t),
    (t) => ({ task: "time trigger", contact_id: t.contactId, flow_id: flowId, occurrence: t.occurrence }),
  );
}

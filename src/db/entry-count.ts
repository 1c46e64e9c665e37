/**
 * "How many contacts would enter now" for the triggers that start a flow from
 * who contacts are rather than from an event: a segment, a date attribute, or
 * inactivity. Each trigger compiles to one WHERE over `contacts AS c` (the
 * segment's condition through db/conditions), counted in one statement whose
 * values are bound as JSON, whatever the number of contacts.
 */
import { type SQL, sql } from "drizzle-orm";
import { TIME_ATTRIBUTES } from "../flows/conditions";
import { durationMs, offsetMs } from "../flows/duration";
import type { Condition, Trigger } from "../flows/schema";
import type { Database } from "./client";
import { asInstantSql, conditionSql } from "./conditions";

const DAY_MS = 86_400_000;
/** A date trigger counts the contacts whose date (after the offset) falls in this many days from today (UTC). */
export const DATE_WINDOW_DAYS = 7;

/** The triggers an entry count answers for. */
export type CountableTrigger = Extract<Trigger, { segment_entered: string } | { date: unknown } | { inactive_for: string }>;

/** True for a segment, date or inactivity trigger. */
export function isCountable(trigger: Trigger): trigger is CountableTrigger {
  return "segment_entered" in trigger || "date" in trigger || "inactive_for" in trigger;
}

/** An entry count: the contacts matching now, how many of them may get marketing mail, and the day window of a date trigger. */
export interface EntryCount {
  count: number;
  subscribed: number;
  window: { from: number; to: number } | null;
}

/** UTC "MM-DD" of an instant. */
const monthDay = (ms: number) => new Date(ms).toISOString().slice(5, 10);

const isLeapYear = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;

/** The contacts a date trigger would start for in the window, as the daily scan would find them (in UTC). */
function dateWhere(rule: Extract<Trigger, { date: unknown }>["date"], from: number, to: number): SQL {
  const path = `$."${rule.attribute.replaceAll('"', '""')}"`;
  const instant = TIME_ATTRIBUTES.has(rule.attribute)
    ? sql.raw(`c.${rule.attribute}`)
    : asInstantSql(sql`json_extract(CASE WHEN json_valid(c.attributes) THEN c.attributes END, ${path})`);
  const shift = offsetMs(rule.offset);
  if (rule.repeat !== "yearly") return sql`(${instant} + ${shift} >= ${from} AND ${instant} + ${shift} < ${to})`;
  // Yearly: the anniversary (date plus offset) falls in the window when the date's month and day is one of these.
  const days = new Set<string>();
  for (let day = from - shift; day < to - shift; day += DAY_MS) {
    days.add(monthDay(day));
    // A 29 February birthday is celebrated on the 28th in other years (as flows/schedule does).
    const year = new Date(day).getUTCFullYear();
    if (monthDay(day) === "02-28" && !isLeapYear(year)) days.add("02-29");
  }
  return sql`strftime('%m-%d', ${instant} / 1000, 'unixepoch') IN (SELECT value FROM json_each(${JSON.stringify([...days])}))`;
}

/**
 * Counts the contacts a countable trigger would start a flow for now: a segment's members (its condition is passed
 * in, looked up by the caller), the contacts whose date falls in the next DATE_WINDOW_DAYS days, or those with no
 * open, click or sign-up for the inactivity duration.
 */
export async function countEntrants(
  db: Database,
  trigger: CountableTrigger,
  segmentCondition: Condition | null,
  now: number,
): Promise<EntryCount> {
  let where: SQL;
  let window: EntryCount["window"] = null;
  if ("segment_entered" in trigger) {
    where = segmentCondition ? conditionSql(segmentCondition, now) : sql`0`;
  } else if ("date" in trigger) {
    const from = Math.floor(now / DAY_MS) * DAY_MS;
    window = { from, to: from + DATE_WINDOW_DAYS * DAY_MS };
    where = dateWhere(trigger.date, window.from, window.to);
  } else {
    const lastEngaged = sql`max(coalesce(c.last_opened_at, 0), coalesce(c.last_clicked_at, 0), c.created_at)`;
    where = sql`${lastEngaged} <= ${now - durationMs(trigger.inactive_for)}`;
  }
  const row = await db.get<{ n: number; subscribed: number | null }>(
    sql`SELECT count(*) AS n, sum(c.consent = 'subscribed') AS subscribed FROM contacts AS c WHERE ${where}`,
  );
  return { count: row?.n ?? 0, subscribed: row?.subscribed ?? 0, window };
}

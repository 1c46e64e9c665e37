/**
 * The occurrence a time trigger (`{date}`, `{inactive_for}`) names for one contact, from the contact's current
 * facts: when it fires, the name that makes it enroll once, and the event it starts the flow with. Both the
 * scans that find due occurrences and the ContactTimer that fires them ask this, so a date that moved since the
 * scan (a new order moves `last_order_at`) is seen when the old timer fires, and the timer is replaced. Pure.
 */
import { type ContactFacts, contactAttribute } from "./conditions";
import { durationMs, offsetMs } from "./duration";
import { dateAttributeInstant, localTime, nextYearlyInstant } from "./schedule";
import type { Trigger } from "./schema";

/** An occurrence this recent is still fired when first seen (a flow activated after its hour, a date moved to today). */
export const OCCURRENCE_GRACE_MS = 12 * 3_600_000;

/** One occurrence of a time trigger for a contact. */
export interface TimeOccurrence {
  /** Identifies the occurrence (e.g. the 2027 birthday, an inactive spell), so it enrolls once. */
  occurrence: string;
  fireAt: number;
  event: { name: string; properties: Record<string, string | number | null> };
}

/**
 * The contact's occurrence of the flow's time trigger; for a yearly date, the first at or after `from`. Null when
 * the trigger is not a time trigger or the contact's date is absent or unreadable.
 */
export function timeTriggerOccurrence(
  flowId: string,
  trigger: Trigger,
  contact: ContactFacts,
  defaultZone: string,
  from: number,
): TimeOccurrence | null {
  if ("inactive_for" in trigger) {
    const since = lastEngagedAt(contact);
    return {
      occurrence: `inactive:${flowId}:${since}`,
      fireAt: since + durationMs(trigger.inactive_for),
      event: { name: "inactive", properties: { since: new Date(since).toISOString(), for: trigger.inactive_for } },
    };
  }
  if (!("date" in trigger)) return null;
  const rule = trigger.date;
  const tz = contact.timezone ?? defaultZone;
  const value = contactAttribute(contact, rule.attribute);
  const when = { ...(rule.at ? { at: rule.at } : {}), offsetMs: offsetMs(rule.offset) };
  const fireAt = rule.repeat === "yearly" ? nextYearlyInstant(value, when, tz, from) : dateAttributeInstant(value, when, tz);
  if (fireAt === null) return null;
  const day = localTime(fireAt, tz);
  return {
    occurrence: `date:${flowId}:${day.year}-${day.month}-${day.day}`,
    fireAt,
    event: { name: "date_reached", properties: { attribute: rule.attribute, date: dateText(value) } },
  };
}

/** When the contact last opened or clicked, or was created: where an inactive spell starts. */
export function lastEngagedAt(contact: Pick<ContactFacts, "last_opened_at" | "last_clicked_at" | "created_at">): number {
  return Math.max(contact.last_opened_at ?? 0, contact.last_clicked_at ?? 0, contact.created_at);
}

/** The date as the event carries it: a system date (epoch ms) as ISO 8601, a custom one as written. */
function dateText(value: unknown): string | null {
  if (typeof value === "number" && Number.isFinite(value)) return new Date(value).toISOString();
  return typeof value === "string" ? value : null;
}

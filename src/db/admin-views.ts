/**
 * Queries behind the dashboard's pages that are not reports:
 * a contact's timeline, the suppression list, the snippet's latest events. Flow status changes go through contact/flow-control.
 * Every query is bounded (LIMIT) and uses an index.
 */
import { and, count, desc, eq, gte, inArray, lt, notLike } from "drizzle-orm";
import type { Database } from "./client";
import { contacts, enrollments, events, type MessageRow, messages, suppressions } from "./schema";
import { ERASED_KEY_PREFIX } from "./suppressions";

/** How many rows a dashboard list shows at most. */
export const LIST_LIMIT = 100;

/** One entry of a contact's timeline: an event or a message. */
export type TimelineEntry =
  | { kind: "event"; at: number; name: string; detail: string; machine: boolean; value: number | null }
  | {
      kind: "message";
      at: number;
      subject: string;
      status: string;
      reason: string | null;
      flow: string | null;
      step: string | null;
      variant: string | null;
    };

/** A contact with their enrollments and the latest events and messages, newest first. */
export async function contactTimeline(db: Database, contactId: string) {
  const [contact] = await db.select().from(contacts).where(eq(contacts.id, contactId));
  if (!contact) return null;
  const [enrolled, recentEvents, recentMessages] = await Promise.all([
    db.select().from(enrollments).where(eq(enrollments.contactId, contactId)).orderBy(desc(enrollments.enteredAt)).limit(LIST_LIMIT),
    db.select().from(events).where(eq(events.contactId, contactId)).orderBy(desc(events.ts)).limit(LIST_LIMIT),
    db.select().from(messages).where(eq(messages.contactId, contactId)).orderBy(desc(messages.createdAt)).limit(LIST_LIMIT),
  ]);
  const timeline: TimelineEntry[] = [
    ...recentEvents.map(
      (e): TimelineEntry => ({
        kind: "event",
        at: e.ts,
        name: e.name,
        detail: JSON.stringify(e.properties),
        machine: e.machine,
        value: e.value,
      }),
    ),
    ...recentMessages.map(
      (m): TimelineEntry => ({
        kind: "message",
        at: m.sentAt ?? m.dueAt,
        subject: m.subject ?? m.templateId ?? "(no subject)",
        status: m.status,
        reason: m.reason,
        flow: m.flowId,
        step: m.stepId,
        variant: m.variant,
      }),
    ),
  ].sort((a, b) => b.at - a.at);
  return { contact, enrollments: enrolled, timeline };
}

/** How many of a flow's enrollments and messages stand where, for the flow page's "why no mail" counts. */
export async function flowDeliveryCounts(db: Database, flowId: string) {
  const [byEnrollment, byMessage] = await Promise.all([
    db
      .select({ status: enrollments.status, reason: enrollments.exitReason, step: enrollments.currentStep, count: count() })
      .from(enrollments)
      .where(eq(enrollments.flowId, flowId))
      .groupBy(enrollments.status, enrollments.exitReason, enrollments.currentStep),
    db
      .select({ status: messages.status, reason: messages.reason, count: count() })
      .from(messages)
      .where(and(eq(messages.flowId, flowId), inArray(messages.status, ["queued", "failed", "suppressed", "cancelled"])))
      .groupBy(messages.status, messages.reason),
  ]);
  return { enrollments: byEnrollment, messages: byMessage };
}

/** The suppression list, newest first; erased people's keys are not addresses and are left out. */
export function listSuppressions(db: Database) {
  return db
    .select()
    .from(suppressions)
    .where(notLike(suppressions.email, `${ERASED_KEY_PREFIX}%`))
    .orderBy(desc(suppressions.createdAt))
    .limit(LIST_LIMIT * 5);
}

/** The dev mailbox: messages "sent" without a provider (ids `dev_…`), newest first; a range on the provider-id index. */
export async function mailboxMessages(db: Database): Promise<MessageRow[]> {
  return db
    .select()
    .from(messages)
    .where(and(gte(messages.providerId, "dev_"), lt(messages.providerId, "dev`")))
    .orderBy(desc(messages.sentAt))
    .limit(LIST_LIMIT);
}

/** How far back the setup page looks for snippet events (a range on the ts index bounds the scan). */
const SNIPPET_LOOKBACK_MS = 86_400_000;

/** The latest events the site snippet sent in the last day, newest first, with the contact's email when known. */
export async function recentSnippetEvents(db: Database, now: number, limit = 20) {
  return db
    .select({
      id: events.id,
      name: events.name,
      ts: events.ts,
      properties: events.properties,
      anonymousId: events.anonymousId,
      email: contacts.email,
    })
    .from(events)
    .leftJoin(contacts, eq(contacts.id, events.contactId))
    .where(and(gte(events.ts, now - SNIPPET_LOOKBACK_MS), eq(events.source, "snippet")))
    .orderBy(desc(events.ts))
    .limit(limit);
}

/** One message of the outbox, or undefined. */
export async function findMessage(db: Database, id: string): Promise<MessageRow | undefined> {
  const [row] = await db.select().from(messages).where(eq(messages.id, id));
  return row;
}

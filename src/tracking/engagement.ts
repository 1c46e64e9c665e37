/**
 * Records opens and clicks (from our pixel and redirects, or Resend's
 * webhooks) as events into the contact's flows. Machine ones are kept, marked
 * `machine`, and change nothing else: they never start or advance a flow and
 * never count in rates. A human click also counts as an open.
 */
import { sql } from "drizzle-orm";
import { newEventId } from "../contact/changes";
import { recordEvents } from "../contact/record-events";
import type { Database } from "../db/client";
import type { EventInsert } from "../db/events";
import type { MessageRow } from "../db/schema";
import type { Env } from "../env";
import { machineClick, machineOpen } from "./machine";

/** Kinds whose engagement is tracked: the contact's own mail. */
const TRACKED_KINDS = new Set(["marketing", "transactional"]);

type TrackedMessage = Pick<MessageRow, "id" | "contactId" | "kind" | "flowId" | "stepId" | "variant" | "sentAt" | "openedAt">;

async function trackedMessage(db: Database, id: string): Promise<(TrackedMessage & { contactId: string }) | null> {
  const [row] = await db.all<TrackedMessage>(sql`SELECT id, contact_id AS contactId, kind, flow_id AS flowId, step_id AS stepId,
    variant, sent_at AS sentAt, opened_at AS openedAt FROM messages WHERE id = ${id}`);
  if (!row?.contactId || !TRACKED_KINDS.has(row.kind)) return null;
  return row as TrackedMessage & { contactId: string };
}

function engagementEvent(
  m: TrackedMessage & { contactId: string },
  name: string,
  machine: string | null,
  now: number,
  extra = {},
): EventInsert {
  return {
    id: newEventId(),
    contactId: m.contactId,
    anonymousId: null,
    name,
    properties: { flow_id: m.flowId, step_id: m.stepId, variant: m.variant, ...extra, ...(machine ? { machine_reason: machine } : {}) },
    value: null,
    source: "system",
    machine: machine !== null,
    messageId: m.id,
    ts: now,
  };
}

/** A human open: the message's first open time, the contact's last open, and a fresh unopened streak. */
async function markOpened(db: Database, m: TrackedMessage & { contactId: string }, now: number, clicked: boolean): Promise<void> {
  await db.run(sql`UPDATE messages SET opened_at = coalesce(opened_at, ${now})${clicked ? sql`, clicked_at = coalesce(clicked_at, ${now})` : sql``}
    WHERE id = ${m.id}`);
  await db.run(sql`UPDATE contacts SET last_opened_at = ${now}, unopened_streak = 0${clicked ? sql`, last_clicked_at = ${now}` : sql``}
    WHERE id = ${m.contactId}`);
}

/** Records an open of a message; `userAgent` null means the provider reported it (already a reader's open). */
export async function recordOpen(env: Env, db: Database, messageId: string, userAgent: string | null, now: number): Promise<void> {
  const m = await trackedMessage(db, messageId);
  if (!m) return;
  if (userAgent === null && m.openedAt !== null) return; // the provider's report of an open our pixel already saw
  const machine = userAgent === null ? null : machineOpen({ userAgent, sentAt: m.sentAt, now });
  if (!machine) await markOpened(db, m, now, false);
  await recordEvents(env, db, [engagementEvent(m, "email_opened", machine, now)], now);
}

/** Records a click on link `index` of a message, going to `url`. */
export async function recordClick(
  env: Env,
  db: Database,
  messageId: string,
  index: number,
  url: string,
  request: { method: string; userAgent: string } | null,
  now: number,
): Promise<void> {
  const m = await trackedMessage(db, messageId);
  if (!m) return;
  const [other] = await db.all<{ at: number | null }>(sql`SELECT max(ts) AS at FROM events
    WHERE message_id = ${m.id} AND name = 'email_clicked' AND coalesce(properties ->> '$.link_index', -1) != ${index}`);
  if (request === null) {
    // The provider's click report: counted unless our redirect already recorded this link.
    const [seen] = await db.all<{ n: number }>(sql`SELECT count(*) AS n FROM events
      WHERE message_id = ${m.id} AND name = 'email_clicked' AND properties ->> '$.url' = ${url}`);
    if (seen && seen.n > 0) return;
  }
  const machine =
    request === null
      ? null
      : machineClick({
          method: request.method,
          userAgent: request.userAgent,
          sentAt: m.sentAt,
          now,
          opened: m.openedAt !== null,
          otherLinkClickedAt: other?.at ?? null,
        });
  if (!machine) await markOpened(db, m, now, true);
  await recordEvents(env, db, [engagementEvent(m, "email_clicked", machine, now, { url, link_index: index })], now);
}

/**
 * Records opens and clicks (from our pixel and redirects, or Resend's
 * webhooks) as events into the contact's flows. Machine ones are kept, marked
 * `machine`, and change nothing else: they never start or advance a flow and
 * never count in rates. A human click also counts as an open. An engagement
 * with an id (the tracking queue's always have one) is recorded once however
 * often it is given: its event is stored once per id, and the message and
 * contact updates only ever keep the first or the latest time.
 */
import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import { newEventId } from "../contact/changes";
import type { Database } from "../db/client";
import type { EventInsert } from "../db/events";
import { contacts, type MessageRow, messages } from "../db/schema";
import { type PipelineContext, type RecordOptions, recordEvents } from "../pipeline/pipeline";
import { machineClick, machineOpen } from "./machine";

/** Kinds whose engagement is tracked: the contact's own mail. */
const TRACKED_KINDS = new Set(["marketing", "transactional"]);

type TrackedMessage = Pick<
  MessageRow,
  "id" | "contactId" | "kind" | "flowId" | "stepId" | "variant" | "broadcastId" | "sentAt" | "openedAt"
>;

function engagementEvent(
  m: TrackedMessage & { contactId: string },
  e: Engagement,
  name: string,
  machine: string | null,
  extra = {},
): EventInsert {
  return {
    id: e.id ?? newEventId(),
    contactId: m.contactId,
    anonymousId: null,
    name,
    properties: {
      flow_id: m.flowId,
      step_id: m.stepId,
      variant: m.variant,
      // A broadcast's opens and clicks name it, so that flows can trigger on and wait for them (SPEC section 10).
      ...(m.broadcastId ? { broadcast_id: m.broadcastId } : {}),
      ...extra,
      ...(machine ? { machine_reason: machine } : {}),
    },
    value: null,
    source: "system",
    machine: machine !== null,
    messageId: m.id,
    ts: e.at,
  };
}

const OpenFields = z.object({
  kind: z.literal("open"),
  messageId: z.string().min(1).max(200),
  /** The reader's user agent; null when the provider's webhook reported the open. */
  userAgent: z.string().max(2000).nullable(),
  at: z.number().int().nonnegative(),
});

const ClickFields = z.object({
  kind: z.literal("click"),
  messageId: z.string().min(1).max(200),
  index: z.number().int().min(-1),
  url: z.string().min(1).max(16_000),
  /** The redirect's request; null when the provider's webhook reported the click. */
  request: z.object({ method: z.string().min(1).max(16), userAgent: z.string().max(2000) }).nullable(),
  at: z.number().int().nonnegative(),
});

/** The id of the event an engagement becomes: fixed when the request is answered, so recording it twice stores it once. */
const EngagementId = z.string().regex(/^evt_[0-9a-f]{32}$/);

/** An open or a click to record; `id` makes recording it idempotent (a provider's report has none: its webhook receipt dedupes it). */
export const Engagement = z.discriminatedUnion("kind", [
  OpenFields.extend({ id: EngagementId.optional() }),
  ClickFields.extend({ id: EngagementId.optional() }),
]);
export type Engagement = z.infer<typeof Engagement>;

/** An open or a click as the tracking queue carries it: always with its id, since the queue may deliver it twice. */
export const QueuedEngagement = z.discriminatedUnion("kind", [
  OpenFields.extend({ id: EngagementId }),
  ClickFields.extend({ id: EngagementId }),
]);
export type QueuedEngagement = z.infer<typeof QueuedEngagement>;

/** What a batch knows about one message as it goes: earlier opens and clicks, in the store or in this batch. */
interface MessageState {
  message: TrackedMessage & { contactId: string };
  clickedAt: Map<number, number>;
  clickedUrls: Set<string>;
  humanOpenAt: number | null;
  humanClickAt: number | null;
}

async function loadStates(db: Database, ids: string[]): Promise<Map<string, MessageState>> {
  // One JSON parameter, however many messages a burst of opens names (D1 binds at most 100 parameters).
  const list = sql`SELECT value FROM json_each(${JSON.stringify(ids)})`;
  const messages = await db.all<TrackedMessage>(sql`SELECT id, contact_id AS contactId, kind, flow_id AS flowId, step_id AS stepId,
    variant, broadcast_id AS broadcastId, sent_at AS sentAt, opened_at AS openedAt FROM messages WHERE id IN (${list})`);
  const clicks = await db.all<{ messageId: string; idx: number; url: string | null; at: number }>(sql`SELECT message_id AS messageId,
    coalesce(properties ->> '$.link_index', -1) AS idx, properties ->> '$.url' AS url, max(ts) AS at
    FROM events WHERE message_id IN (${list}) AND name = 'email_clicked' GROUP BY 1, 2, 3`);
  const states = new Map<string, MessageState>();
  for (const m of messages) {
    if (!m.contactId || !TRACKED_KINDS.has(m.kind)) continue;
    const message = m as TrackedMessage & { contactId: string };
    states.set(m.id, { message, clickedAt: new Map(), clickedUrls: new Set(), humanOpenAt: null, humanClickAt: null });
  }
  for (const c of clicks) {
    const state = states.get(c.messageId);
    if (!state) continue;
    state.clickedAt.set(c.idx, Math.max(state.clickedAt.get(c.idx) ?? 0, c.at));
    if (c.url) state.clickedUrls.add(c.url);
  }
  return states;
}

/** The event an engagement makes, or null when it is the provider's report of one we already recorded. */
function judge(state: MessageState, e: Engagement): EventInsert | null {
  const m = state.message;
  if (e.kind === "open") {
    const opened = m.openedAt !== null || state.humanOpenAt !== null;
    if (e.userAgent === null && opened) return null;
    const machine = e.userAgent === null ? null : machineOpen({ userAgent: e.userAgent, sentAt: m.sentAt, now: e.at });
    if (!machine) state.humanOpenAt ??= e.at;
    return engagementEvent(m, e, "email_opened", machine);
  }
  // The provider's click report counts unless our redirect already recorded this link.
  if (e.request === null && state.clickedUrls.has(e.url)) return null;
  let otherLinkClickedAt: number | null = null;
  for (const [index, at] of state.clickedAt) if (index !== e.index) otherLinkClickedAt = Math.max(otherLinkClickedAt ?? 0, at);
  const machine =
    e.request === null
      ? null
      : machineClick({
          method: e.request.method,
          userAgent: e.request.userAgent,
          sentAt: m.sentAt,
          now: e.at,
          opened: m.openedAt !== null || state.humanOpenAt !== null,
          otherLinkClickedAt,
        });
  state.clickedAt.set(e.index, Math.max(state.clickedAt.get(e.index) ?? 0, e.at));
  state.clickedUrls.add(e.url);
  if (!machine) {
    state.humanOpenAt ??= e.at;
    state.humanClickAt ??= e.at;
  }
  return engagementEvent(m, e, "email_clicked", machine, { url: e.url, link_index: e.index });
}

/**
 * Records opens and clicks, in the order given: machine or human (each judged with what came before it,
 * stored or earlier in the list), the messages' first open and click, the contacts' last open and click
 * and unopened streak, and the events into the contacts' flows (only those listening, with the caller's
 * recording options), all in a few statements per batch.
 */
export async function recordEngagements(
  ctx: PipelineContext,
  engagements: Engagement[],
  now: number,
  options: RecordOptions = {},
): Promise<void> {
  const { db } = ctx;
  if (engagements.length === 0) return;
  const states = await loadStates(db, [...new Set(engagements.map((e) => e.messageId))]);
  const events: EventInsert[] = [];
  for (const e of engagements) {
    const state = states.get(e.messageId);
    const event = state && judge(state, e);
    if (event) events.push(event);
  }
  const updates = [];
  const engagedContacts = new Map<string, { openedAt: number; clickedAt: number | null }>();
  for (const { message, humanOpenAt, humanClickAt } of states.values()) {
    if (humanOpenAt === null) continue;
    updates.push(
      db
        .update(messages)
        .set({
          openedAt: sql`coalesce(${messages.openedAt}, ${humanOpenAt})`,
          clickedAt: sql`coalesce(${messages.clickedAt}, ${humanClickAt})`,
        })
        .where(eq(messages.id, message.id)),
    );
    const seen = engagedContacts.get(message.contactId);
    engagedContacts.set(message.contactId, {
      openedAt: Math.max(seen?.openedAt ?? 0, humanOpenAt),
      clickedAt: humanClickAt === null ? (seen?.clickedAt ?? null) : Math.max(seen?.clickedAt ?? 0, humanClickAt),
    });
  }
  for (const [id, { openedAt, clickedAt }] of engagedContacts) {
    updates.push(
      db
        .update(contacts)
        .set({
          lastOpenedAt: sql`max(coalesce(${contacts.lastOpenedAt}, 0), ${openedAt})`,
          unopenedStreak: 0,
          ...(clickedAt === null ? {} : { lastClickedAt: sql`max(coalesce(${contacts.lastClickedAt}, 0), ${clickedAt})` }),
        })
        .where(eq(contacts.id, id)),
    );
  }
  if (updates.length > 0) await db.batch(updates as [(typeof updates)[number], ...typeof updates]);
  await recordEvents(ctx, events, now, { ...options, onlyListening: true });
}

/**
 * The pipeline: the one place that sequences what happens to an event. It stores events (contact/store-events),
 * hands them to the contacts' ContactTimers (contact/dispatch), sends what the timers queued due now
 * (delivery/sender), and records what was sent as `email_sent` events, which go round again. Nothing below it
 * calls back up: storing and dispatching send nothing, and the sender returns what it sent instead of recording
 * it. The rounds are bounded: mail that falls due past the last round waits in the outbox for the cron.
 */
import type { TimerCallBudget } from "../contact/call-budget";
import { type DispatchOptions, dispatchEvents, redispatchKept } from "../contact/dispatch";
import { storeEvents } from "../contact/store-events";
import type { Database } from "../db/client";
import type { EventInsert } from "../db/events";
import { type DeliveryReport, deliverDueMessages, deliverMessagesNow } from "../delivery/sender";
import type { Config, Env } from "../env";

/** What every step needs, built once at the edge (the HTTP middleware, the cron, the queue, the ContactTimer). */
export interface PipelineContext {
  env: Env;
  config: Config;
  db: Database;
}

/**
 * Rounds of "send what fell due → record the sends → send what that made due" one call runs. A flow that waits
 * for `email_sent` and mails again is one more round; a longer chain carries on from the cron a minute later.
 */
const MAX_SEND_ROUNDS = 3;

/** How recorded events are handed on. */
export interface RecordOptions extends DispatchOptions {
  /**
   * Send the mail the timers queued due now within this call (the default: a first welcome email leaves within
   * seconds). False for reports that must never send mail by themselves (the provider's delivery webhooks):
   * what they make due leaves with the every-minute cron.
   */
  deliver?: boolean;
}

/** Result of recording a batch: which ids were new. */
export interface RecordResult {
  newIds: Set<string>;
}

/**
 * Stores events, dispatches every one that names a contact to that contact's ContactTimer, and (unless told not
 * to) sends the messages they queued that are due now, batched across contacts, recording those sends in turn.
 */
export async function recordEvents(
  ctx: PipelineContext,
  rows: EventInsert[],
  now: number,
  { deliver = true, ...dispatch }: RecordOptions = {},
): Promise<RecordResult> {
  const { newIds, dueNow } = await storeAndDispatch(ctx, rows, now, dispatch);
  if (deliver) await deliverNow(ctx, dueNow, { calls: dispatch.calls });
  return { newIds };
}

/** Stores events and hands them to their ContactTimers; returns the new ids and the messages the timers queued due now. */
async function storeAndDispatch(
  ctx: PipelineContext,
  rows: EventInsert[],
  now: number,
  dispatch: DispatchOptions,
): Promise<RecordResult & { dueNow: string[] }> {
  const { newIds, stored } = await storeEvents(ctx.db, ctx.config, rows, now);
  return { newIds, dueNow: await dispatchEvents(ctx.env, ctx.db, stored, now, dispatch) };
}

/** The every-minute cron's part: hands kept events to their ContactTimers again and sends what they queued due now. */
export async function redispatchUndispatched(ctx: PipelineContext, now: number, calls: TimerCallBudget): Promise<void> {
  await deliverNow(ctx, await redispatchKept(ctx.env, ctx.db, now, calls), { calls });
}

/** Sends these messages now if they are queued and due, and records the sends into the flows. */
export async function deliverNow(
  ctx: PipelineContext,
  ids: string[],
  { calls }: { calls?: TimerCallBudget } = {},
): Promise<DeliveryReport> {
  return deliverInRounds(ctx, ids, calls, 1);
}

/**
 * The cron's delivery: sends due batches for the run's time (see `deliverDueMessages`), recording each batch's
 * sends while the next is sent; ContactTimer calls come from `calls`, the invocation's budget.
 */
export async function deliverDue(
  ctx: PipelineContext,
  { budgetMs, calls }: { budgetMs?: number; calls?: TimerCallBudget } = {},
): Promise<DeliveryReport> {
  return recordSends(ctx, deliverDueMessages(ctx.db, ctx.config, { budgetMs }), calls, 1);
}

async function deliverInRounds(
  ctx: PipelineContext,
  ids: string[],
  calls: TimerCallBudget | undefined,
  round: number,
): Promise<DeliveryReport> {
  if (ids.length === 0) return { sent: 0, failed: 0, suppressed: 0, retried: 0, recovered: 0 };
  return recordSends(ctx, deliverMessagesNow(ctx.db, ctx.config, ids), calls, round);
}

/**
 * Drives a delivery to its end, recording each sent batch's `email_sent` events as it is yielded (without
 * holding up the next batch), only into the flows already listening, and sending what they made due in the next
 * round while rounds remain.
 */
async function recordSends(
  ctx: PipelineContext,
  delivery: AsyncGenerator<EventInsert[], DeliveryReport>,
  calls: TimerCallBudget | undefined,
  round: number,
): Promise<DeliveryReport> {
  const recordings: Promise<unknown>[] = [];
  for (;;) {
    const next = await delivery.next();
    if (next.done) {
      await Promise.all(recordings);
      return next.value;
    }
    recordings.push(
      storeAndDispatch(ctx, next.value, Date.now(), { onlyListening: true, calls }).then(({ dueNow }) =>
        round < MAX_SEND_ROUNDS ? deliverInRounds(ctx, dueNow, calls, round + 1) : undefined,
      ),
    );
  }
}

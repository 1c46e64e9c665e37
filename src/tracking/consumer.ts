/**
 * The tracking queue's consumer: records the opens and clicks the tracking
 * routes queued (tracking/enqueue.ts), a batch at a time, with the rules of
 * tracking/engagement.ts, and keeps what its dead-letter queue delivers in D1.
 *
 * Queues deliver at least once, so recording must be idempotent: each message
 * carries the id of the event it becomes, and events are stored once per id
 * (the message and contact updates are idempotent on their own). A batch that
 * fails is retried with backoff. Its messages would go on failing together, so
 * one that keeps failing (a poison message) would drag everyone else with it
 * into the dead-letter queue: redelivered messages are therefore recorded apart
 * from first deliveries, and when they fail again, in two halves, so each retry
 * narrows the failure down to the message that causes it. That is at most four
 * recordings per invocation, whatever the batch size.
 */
import type { Database } from "../db/client";
import { type DeadLetterInsert, forgetDeadLetters, keepDeadLetters, oldestDeadLetters } from "../db/dead-letters";
import type { PipelineContext } from "../pipeline/pipeline";
import { QueuedEngagement, recordEngagements } from "./engagement";

/** The queue the tracking routes send to (wrangler.toml). */
export const TRACKING_QUEUE = "nurture-tracking";
/** Where the tracking queue moves a message whose retries ran out (wrangler.toml). */
export const TRACKING_DEAD_LETTER_QUEUE = "nurture-tracking-dead";

/** The first retry's delay; each further one waits twice as long… */
const FIRST_RETRY_DELAY_SECONDS = 10;
/** …up to this. */
const MAX_RETRY_DELAY_SECONDS = 900;

/** Why a dead letter was given up on, as the dashboard shows it. */
export const RETRIES_RAN_OUT = "retries ran out";

/** How long a message that failed on its `attempts`-th delivery waits before the next. */
export function retryDelaySeconds(attempts: number): number {
  return Math.min(MAX_RETRY_DELAY_SECONDS, FIRST_RETRY_DELAY_SECONDS * 2 ** (Math.max(1, attempts) - 1));
}

/** The Worker's `queue` handler: records the tracking queue's batches, and keeps the dead-letter queue's. */
export async function consumeTrackingQueue(batch: MessageBatch<unknown>, ctx: PipelineContext): Promise<void> {
  if (batch.queue === TRACKING_QUEUE) return recordTrackingBatch(batch, ctx, Date.now());
  if (batch.queue === TRACKING_DEAD_LETTER_QUEUE) return keepDeadLetterBatch(batch, ctx.db, Date.now());
  // A queue renamed in wrangler.toml but not here: fail loudly rather than record into the wrong place.
  throw new Error(`no consumer for queue ${batch.queue}`);
}

/** What a recording needs: the pipeline's context and the time it runs at. */
interface Recording {
  ctx: PipelineContext;
  now: number;
}

interface Delivery {
  message: Message<unknown>;
  engagement: QueuedEngagement;
}

async function recordTrackingBatch(batch: MessageBatch<unknown>, ctx: PipelineContext, now: number): Promise<void> {
  const { db } = ctx;
  const deliveries: Delivery[] = [];
  const malformed: DeadLetterInsert[] = [];
  const malformedMessages: Message<unknown>[] = [];
  for (const message of batch.messages) {
    const parsed = QueuedEngagement.safeParse(message.body);
    if (parsed.success) deliveries.push({ message, engagement: parsed.data });
    else {
      // No retry can fix a body that is not an open or a click: it is kept as a dead letter at once.
      malformed.push(deadLetterOf(message, `not an open or a click: ${parsed.error.issues[0]?.message ?? "invalid"}`));
      malformedMessages.push(message);
    }
  }
  if (malformed.length > 0) {
    try {
      await keepDeadLetters(db, malformed, now);
      for (const message of malformedMessages) message.ack();
    } catch (error) {
      logFailure("keeping malformed tracking messages failed", error, malformedMessages.length);
      for (const message of malformedMessages) message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    }
  }
  // Judged in the order they happened: the first open of a message, a click before another link's.
  deliveries.sort((a, b) => a.engagement.at - b.engagement.at);
  const recording = { ctx, now };
  await recordTogether(
    recording,
    deliveries.filter((d) => d.message.attempts <= 1),
    false,
  );
  await recordTogether(
    recording,
    deliveries.filter((d) => d.message.attempts > 1),
    true,
  );
}

/** Records deliveries in one go, acking each on success; on failure splits them once (when asked) or retries each. */
async function recordTogether(recording: Recording, deliveries: Delivery[], splitOnFailure: boolean): Promise<void> {
  if (deliveries.length === 0) return;
  try {
    await recordEngagements(
      recording.ctx,
      deliveries.map((d) => d.engagement),
      recording.now,
    );
    for (const d of deliveries) d.message.ack();
  } catch (error) {
    logFailure("recording opens and clicks failed; they are retried", error, deliveries.length);
    if (splitOnFailure && deliveries.length > 1) {
      const half = Math.ceil(deliveries.length / 2);
      await recordTogether(recording, deliveries.slice(0, half), false);
      await recordTogether(recording, deliveries.slice(half), false);
      return;
    }
    for (const d of deliveries) d.message.retry({ delaySeconds: retryDelaySeconds(d.message.attempts) });
  }
}

async function keepDeadLetterBatch(batch: MessageBatch<unknown>, db: Database, now: number): Promise<void> {
  try {
    await keepDeadLetters(
      db,
      batch.messages.map((m) => deadLetterOf(m, RETRIES_RAN_OUT)),
      now,
    );
    batch.ackAll();
  } catch (error) {
    logFailure("keeping tracking dead letters failed", error, batch.messages.length);
    const attempts = Math.max(...batch.messages.map((m) => m.attempts));
    batch.retryAll({ delaySeconds: retryDelaySeconds(attempts) });
  }
}

/** Dead letters sent back per request: what one `sendBatch` takes. */
const SEND_BACK_BATCH = 100;

/**
 * Sends the oldest dead letters that are opens or clicks back to the tracking queue and forgets them; returns how many
 * went. Sent before forgotten: should forgetting fail, a second send is harmless, since each is recorded once by id.
 */
export async function sendBackDeadLetters(db: Database, queue: Queue<QueuedEngagement>): Promise<number> {
  const letters = await oldestDeadLetters(db, SEND_BACK_BATCH);
  const valid = letters.flatMap((letter) => {
    const parsed = QueuedEngagement.safeParse(parseJson(letter.body));
    return parsed.success ? [{ id: letter.id, body: parsed.data }] : [];
  });
  if (valid.length === 0) return 0;
  await queue.sendBatch(valid.map(({ body }) => ({ body, contentType: "json" })));
  await forgetDeadLetters(
    db,
    valid.map((v) => v.id),
  );
  return valid.length;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function deadLetterOf(message: Message<unknown>, reason: string): DeadLetterInsert {
  let body: string;
  try {
    body = JSON.stringify(message.body) ?? "null";
  } catch {
    body = String(message.body);
  }
  return { id: message.id, body, reason: reason.slice(0, 500), queuedAt: message.timestamp.getTime() };
}

function logFailure(msg: string, error: unknown, messages: number): void {
  console.error(JSON.stringify({ msg, messages, error: String(error).slice(0, 300) }));
}

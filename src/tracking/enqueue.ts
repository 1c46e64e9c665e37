/**
 * Hands the opens and clicks the tracking routes accept to the `TRACKING`
 * queue, the durable buffer they are recorded from (tracking/consumer.ts).
 * The response never waits: each one is sent off the response path
 * (`waitUntil`), and those one isolate accepts within a few milliseconds go
 * out together in one `sendBatch`, since a campaign's opens arrive in bursts.
 * Each carries its event id, fixed here, so that a redelivery is recorded once.
 */
import { newEventId } from "../contact/changes";
import type { Engagement, QueuedEngagement } from "./engagement";

/** How long a send gathers the isolate's other opens and clicks before it goes out. */
const SEND_WINDOW_MS = 10;
/** The most messages one `sendBatch` takes. */
const SEND_BATCH_MAX = 100;
/** Bytes a send batch stays under (Queues takes 256 KB per `sendBatch`, with some per-message overhead). */
const SEND_BATCH_BYTES = 192_000;
/** Tries of one `sendBatch` before its messages are given up (and logged whole, to be recovered from the logs). */
const SEND_ATTEMPTS = 3;

interface PendingSend {
  queue: Queue<QueuedEngagement>;
  messages: QueuedEngagement[];
  bytes: number;
}

let pending: PendingSend | null = null;

/** Queues an open or a click for recording, with a fresh event id; the send is kept alive by `ctx`. */
export function enqueueEngagement(ctx: ExecutionContext, queue: Queue<QueuedEngagement>, engagement: Engagement): void {
  const message = { ...engagement, id: newEventId() } as QueuedEngagement;
  const bytes = JSON.stringify(message).length;
  if (pending && (pending.queue !== queue || pending.bytes + bytes > SEND_BATCH_BYTES)) pending = null;
  if (!pending) pending = openPending(ctx, queue);
  pending.messages.push(message);
  pending.bytes += bytes;
  // A full send takes no more: the next request starts another. It still goes out when its window closes, since
  // a request may not settle a promise another request made (workerd forbids I/O across requests).
  if (pending.messages.length >= SEND_BATCH_MAX) pending = null;
}

function openPending(ctx: ExecutionContext, queue: Queue<QueuedEngagement>): PendingSend {
  const send: PendingSend = { queue, messages: [], bytes: 0 };
  ctx.waitUntil(
    new Promise((resolve) => setTimeout(resolve, SEND_WINDOW_MS)).then(() => {
      if (pending === send) pending = null;
      return sendWithRetries(queue, send.messages);
    }),
  );
  return send;
}

async function sendWithRetries(queue: Queue<QueuedEngagement>, messages: QueuedEngagement[]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await queue.sendBatch(messages.map((body) => ({ body, contentType: "json" })));
      return;
    } catch (error) {
      if (attempt >= SEND_ATTEMPTS) {
        console.error(JSON.stringify({ msg: "queueing opens and clicks failed", error: String(error), engagements: messages }));
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 50 * 4 ** (attempt - 1)));
    }
  }
}

/**
 * Gathers the opens and clicks one isolate answers within a short window and
 * records them together. A campaign's opens arrive in bursts; recording each
 * on its own costs a dozen D1 statements and a Durable Object call per
 * request, while a batch shares them (one contact's opens become one call to
 * its ContactTimer). The request that opens a batch keeps it alive with
 * `waitUntil` until it is recorded, so nothing waits on the response path.
 */
import type { Database } from "../db/client";
import type { Env } from "../env";
import { type Engagement, recordEngagements } from "./engagement";

/** How long a batch gathers before it is recorded. */
export const BATCH_WINDOW_MS = 250;
/** A batch this full is recorded without waiting for the window to close. */
const BATCH_MAX = 200;

interface Batch {
  engagements: Engagement[];
  full: () => void;
}

let open: Batch | null = null;

/** Adds an open or click to this isolate's current batch, starting one (kept alive by `ctx`) when none is gathering. */
export function recordLater(ctx: ExecutionContext, env: Env, db: Database, engagement: Engagement): void {
  if (!open) {
    let close!: () => void;
    const closed = new Promise<void>((resolve) => {
      close = resolve;
      setTimeout(resolve, BATCH_WINDOW_MS);
    });
    const batch: Batch = { engagements: [], full: close };
    open = batch;
    ctx.waitUntil(
      closed.then(() => {
        if (open === batch) open = null;
        return recordEngagements(env, db, batch.engagements, Date.now()).catch((error) => {
          console.error("recording opens and clicks failed", error);
        });
      }),
    );
  }
  open.engagements.push(engagement);
  if (open.engagements.length >= BATCH_MAX) {
    open.full();
    open = null;
  }
}

/**
 * The send gate: every sender (overlapping cron runs, immediate sends) waits
 * here for its turn so that, together, they start at most
 * SEND_RATE_PER_SECOND provider requests in any rolling second, as Resend
 * counts them (its docs say "2 requests per second" without saying whether
 * the second is fixed or rolling; a gate that holds in every rolling second
 * holds in every fixed one too). There are `rate` slots; a request takes a
 * free one and holds it for a second and a margin from when it really starts,
 * never from when it was planned, so a sender that wakes late delays only the
 * request that reuses its slot, by its lateness, instead of crowding the
 * provider's window or giving its slot up.
 */
import type { Database } from "../db/client";
import { holdSendSlotUntil, takeSendSlot } from "../db/outbox";

/**
 * What a slot is held beyond the provider's second. It absorbs what may pass between a slot's
 * recorded start and the request reaching the provider (the slot's D1 round trip, the fetch) when that varies
 * from one request to the next.
 */
export const SEND_MARGIN_MS = 30;

/** Time as the gate reads and spends it; tests pass a virtual clock. */
export interface GateClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** The Worker's own clock. It stands still between I/O events, so a zero timer brings it up to date before a reading. */
export const workerClock: GateClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

/**
 * How long a slot stays taken after its request starts: the provider's second plus the margin. There are
 * `perSecond` slots, so any `perSecond` + 1 requests span more than a second, while consecutive requests may
 * go back to back.
 */
export const SLOT_HOLD_MS = 1000 + SEND_MARGIN_MS;

/** A slot taken at the gate: released by time alone, `holdMs` after its request starts. */
export interface SendSlot {
  slot: number;
  holdMs: number;
}

/** Waits until this sender may start a provider request, and takes that slot; the request must follow at once. */
export async function awaitSendSlot(db: Database, perSecond: number, clock: GateClock = workerClock): Promise<SendSlot> {
  // A fractional rate keeps its whole part in slots, each held longer in proportion (0.5/s: one slot, 2060 ms).
  const slots = Math.max(1, Math.floor(perSecond));
  const holdMs = Math.ceil((slots * SLOT_HOLD_MS) / perSecond);
  for (;;) {
    await clock.sleep(0);
    const now = clock.now();
    const taken = await takeSendSlot(db, now, slots, holdMs);
    if ("slot" in taken) return { slot: taken.slot, holdMs };
    await clock.sleep(taken.freeAt - now);
  }
}

/**
 * Called as the request leaves: holds its slot from now. Whatever kept the sender between taking the slot and
 * sending (the slot's own D1 round trip, a busy isolate) moves the slot on with it, so it never eats into the
 * margin. `held` is the write, to be awaited once the request is on its way.
 */
export async function holdFromDispatch(
  db: Database,
  { slot, holdMs }: SendSlot,
  clock: GateClock = workerClock,
): Promise<{ held: Promise<unknown> }> {
  await clock.sleep(0);
  return { held: holdSendSlotUntil(db, slot, clock.now() + holdMs) };
}

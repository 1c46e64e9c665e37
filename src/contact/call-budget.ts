/**
 * How many ContactTimer calls one invocation may still make. Workers Free allows 50 subrequests per invocation
 * (each Durable Object call is one) and Workers Paid 1,000; work that calls a ContactTimer per contact takes its
 * calls from the invocation's budget and leaves the rest to the next cron run (contact/contact-scans, the kept
 * events of contact/dispatch), so no invocation's calls grow with the number of contacts.
 */
import type { Config } from "../env";

/** ContactTimer calls per invocation: 40 of Free's 50 subrequests (the rest are D1 and Resend), 500 of Paid's 1,000. */
export const TIMER_CALLS_PER_INVOCATION = { free: 40, paid: 500 } as const;

/** A countdown of the ContactTimer calls an invocation has left. */
export class TimerCallBudget {
  constructor(private left: number) {}

  /** The budget of one invocation on the configured plan. */
  static forPlan(config: Pick<Config, "WORKERS_PLAN">): TimerCallBudget {
    return new TimerCallBudget(TIMER_CALLS_PER_INVOCATION[config.WORKERS_PLAN]);
  }

  /** Calls still allowed. */
  get remaining(): number {
    return this.left;
  }

  /** Takes up to `wanted` calls; returns how many were granted. */
  take(wanted: number): number {
    const granted = Math.max(0, Math.min(wanted, this.left));
    this.left -= granted;
    return granted;
  }
}

const CALL_CONCURRENCY = 16;
/** Calls to one ContactTimer before it is logged and left for a later run. */
const CALL_ATTEMPTS = 2;

/**
 * Makes one ContactTimer call per item, a few at once, each again once when it fails (an object reset). One that
 * still fails is logged with `what` and left out, so that one contact never holds back a page for everyone.
 */
export async function callEachTimer<T>(
  items: readonly T[],
  call: (item: T) => Promise<unknown>,
  what: (item: T) => Record<string, unknown>,
): Promise<void> {
  const work = [...items];
  const run = async () => {
    for (let item = work.pop(); item !== undefined; item = work.pop()) {
      for (let attempt = 1; attempt <= CALL_ATTEMPTS; attempt++) {
        try {
          await call(item);
          break;
        } catch (error) {
          if (attempt === CALL_ATTEMPTS)
            console.error(JSON.stringify({ msg: "ContactTimer call failed", ...what(item), error: String(error) }));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CALL_CONCURRENCY, work.length) }, run));
}

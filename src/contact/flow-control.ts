/**
 * Activating and pausing flows, for the API and the dashboard alike. A pause
 * only changes the status (each ContactTimer holds enrollments when it sees
 * it); activation also starts the walks (contact/contact-scans) that wake the
 * ContactTimers of the flow's running enrollments and, for a date or
 * inactivity flow, hand over the occurrences due soon. Their first pages run
 * after the response; the every-minute cron carries on with the rest.
 */
import type { Database } from "../db/client";
import { type StoredFlow, setFlowStatus } from "../db/flows";
import type { Env } from "../env";
import { TimerCallBudget } from "./call-budget";
import { advanceContactScans, startActivationScans } from "./contact-scans";

/** ContactTimer calls the activating request makes itself, leaving room under Free's 50 subrequests for its own D1 queries. */
const ACTIVATION_TIMER_CALLS = 30;

/** Sets a flow active or paused; on activation, starts waking its held enrollments after the response. Undefined when there is no such flow. */
export async function switchFlowStatus(
  env: Env,
  db: Database,
  ctx: Pick<ExecutionContext, "waitUntil">,
  flowId: string,
  status: "active" | "paused",
): Promise<StoredFlow | undefined> {
  const now = Date.now();
  const flow = await setFlowStatus(db, flowId, status, now);
  if (flow && status === "active") {
    await startActivationScans(db, flow, now);
    ctx.waitUntil(
      advanceContactScans(env, db, now, new TimerCallBudget(ACTIVATION_TIMER_CALLS), { flowId: flow.id }).catch((error) =>
        console.error(
          JSON.stringify({ msg: "first pages after activation failed; the cron carries on", flow_id: flow.id, error: String(error) }),
        ),
      ),
    );
  }
  return flow;
}

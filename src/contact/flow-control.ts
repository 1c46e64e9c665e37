/**
 * Activating and pausing flows, for the API and the dashboard alike. A pause
 * only changes the status (each ContactTimer holds enrollments when it sees
 * it); activation also wakes the ContactTimers of the flow's running
 * enrollments, so held contacts move on without waiting for their next event.
 */
import { and, eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { type StoredFlow, setFlowStatus } from "../db/flows";
import { enrollments } from "../db/schema";
import type { Env } from "../env";
import { contactTimer } from "./record-events";
import { scheduleTimeTriggers } from "./time-triggers";

const RESUME_CONCURRENCY = 16;

/** Wakes every contact with an active enrollment in the flow (read from the D1 mirror). */
export async function resumeFlowEnrollments(env: Env, db: Database, flowId: string): Promise<void> {
  const rows = await db
    .selectDistinct({ contactId: enrollments.contactId })
    .from(enrollments)
    .where(and(eq(enrollments.flowId, flowId), eq(enrollments.status, "active")));
  const work = rows.map((r) => r.contactId);
  const run = async () => {
    for (let id = work.pop(); id; id = work.pop()) await contactTimer(env, id).resumeFlow(id, flowId);
  };
  await Promise.all(Array.from({ length: Math.min(RESUME_CONCURRENCY, work.length) }, run));
}

/** Sets a flow active or paused; on activation, wakes its held enrollments after the response. Undefined when there is no such flow. */
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
    ctx.waitUntil(resumeFlowEnrollments(env, db, flow.id));
    // Date and inactivity flows start for matching contacts now, not at the next daily scan.
    ctx.waitUntil(scheduleTimeTriggers(env, db, now, [flow]));
  }
  return flow;
}

/** Tells the ContactTimers of a flow's running enrollments that the flow is active again, so held contacts move on. */
import { and, eq } from "drizzle-orm";
import type { Database } from "../db/client";
import { enrollments } from "../db/schema";
import type { Env } from "../env";
import { contactTimer } from "./record-events";

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

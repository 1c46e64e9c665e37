/**
 * Who is where in a running flow, read from the D1 mirror of the enrollments
 * (the ContactTimers hold the truth; the mirror follows each of their writes):
 * how many running contacts each step holds, and the contacts on one step a
 * page at a time.
 */
import { and, asc, count, eq, gt } from "drizzle-orm";
import type { Database } from "./client";
import { contacts, enrollments } from "./schema";

/** The number of running enrollments on each step of a flow (one grouped statement). */
export async function runningByStep(db: Database, flowId: string): Promise<Map<string, number>> {
  const rows = await db
    .select({ step: enrollments.currentStep, n: count() })
    .from(enrollments)
    .where(and(eq(enrollments.flowId, flowId), eq(enrollments.status, "active")))
    .groupBy(enrollments.currentStep);
  return new Map(rows.flatMap((r) => (r.step === null ? [] : [[r.step, r.n] as const])));
}

/** A running contact on a step. */
export interface ContactOnStep {
  enrollmentId: string;
  contactId: string;
  email: string | null;
  enteredAt: number;
}

/** One page of the contacts running on a step, in enrollment id order after the cursor. */
export async function contactsOnStep(
  db: Database,
  flowId: string,
  stepId: string,
  limit: number,
  after?: string,
): Promise<ContactOnStep[]> {
  const onStep = and(eq(enrollments.flowId, flowId), eq(enrollments.status, "active"), eq(enrollments.currentStep, stepId));
  return db
    .select({
      enrollmentId: enrollments.id,
      contactId: enrollments.contactId,
      email: contacts.email,
      enteredAt: enrollments.enteredAt,
    })
    .from(enrollments)
    .leftJoin(contacts, eq(contacts.id, enrollments.contactId))
    .where(after ? and(onStep, gt(enrollments.id, after)) : onStep)
    .orderBy(asc(enrollments.id))
    .limit(limit);
}

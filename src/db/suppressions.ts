/** The suppression list: addresses that get no email at all (hard bounces, complaints, manual entries). */
import { and, desc, eq, lt, or, sql } from "drizzle-orm";
import type { Database } from "./client";
import { type SuppressionRow, suppressions } from "./schema";

/** Suppresses an address; an existing entry keeps its first reason and date. */
export async function suppress(db: Database, email: string, reason: SuppressionRow["reason"], detail: string | null, now: number) {
  await db.insert(suppressions).values({ email: email.toLowerCase(), reason, detail, createdAt: now }).onConflictDoNothing();
}

/** One page of the list, newest first, after a `(createdAt, email)` cursor. */
export async function suppressionPage(
  db: Database,
  limit: number,
  after?: { createdAt: number; email: string },
): Promise<SuppressionRow[]> {
  const cursor = after
    ? or(lt(suppressions.createdAt, after.createdAt), and(eq(suppressions.createdAt, after.createdAt), lt(suppressions.email, after.email)))
    : sql`1`;
  return db.select().from(suppressions).where(cursor).orderBy(desc(suppressions.createdAt), desc(suppressions.email)).limit(limit);
}

/** Lifts a suppression; false when the address was not suppressed. */
export async function liftSuppression(db: Database, email: string): Promise<boolean> {
  return (
    (await db.delete(suppressions).where(eq(suppressions.email, email.toLowerCase())).returning({ email: suppressions.email })).length > 0
  );
}

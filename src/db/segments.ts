/** Queries on saved segments and their members (the condition compiled to SQL by db/conditions). */
import { and, asc, eq, gt, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import type { Condition } from "../flows/schema";
import type { Database } from "./client";
import { conditionSql } from "./conditions";
import { type ContactRow, contacts, segments } from "./schema";

export type SegmentRow = typeof segments.$inferSelect;

/** A segment's condition, or undefined when there is no such segment. */
export async function findSegmentCondition(db: Database, id: string): Promise<Condition | undefined> {
  const row = await db.select({ condition: segments.condition }).from(segments).where(eq(segments.id, id)).get();
  return row ? (row.condition as Condition) : undefined;
}

export async function findSegment(db: Database, id: string): Promise<SegmentRow | undefined> {
  return db.select().from(segments).where(eq(segments.id, id)).get();
}

export async function listSegments(db: Database): Promise<SegmentRow[]> {
  return db.select().from(segments).orderBy(asc(segments.id));
}

/** Creates or replaces a segment; returns it and whether it was new. */
export async function saveSegment(db: Database, id: string, name: string, condition: Condition, now: number) {
  const before = await findSegment(db, id);
  const row = await db
    .insert(segments)
    .values({ id, name, condition, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({ target: segments.id, set: { name, condition, updatedAt: now } })
    .returning()
    .get();
  return { segment: row, created: !before };
}

export async function deleteSegment(db: Database, id: string): Promise<boolean> {
  const gone = await db.delete(segments).where(eq(segments.id, id)).returning({ id: segments.id });
  return gone.length > 0;
}

/** One page of a segment's members in id order, after the `after` cursor. */
export async function segmentMembers(
  db: Database,
  condition: Condition,
  now: number,
  limit: number,
  after?: string,
): Promise<ContactRow[]> {
  const c = alias(contacts, "c");
  const where = conditionSql(condition, now);
  return db
    .select()
    .from(c)
    .where(after ? and(where, gt(c.id, after)) : where)
    .orderBy(asc(c.id))
    .limit(limit);
}

/** The most members a preview counts; past it the editor says "more than". Bounds the scan a keystroke may start. */
export const PREVIEW_COUNT_CAP = 10_000;

/**
 * How many contacts match a condition now, counting at most `cap` (a bounded scan: the count's cost does not grow
 * past `cap` rows however large the list is). One query.
 */
export async function countMatching(db: Database, condition: Condition, now: number, cap: number): Promise<number> {
  const c = alias(contacts, "c");
  const inner = db.select({ one: sql`1` }).from(c).where(conditionSql(condition, now)).limit(cap);
  const row = await db.select({ n: sql<number>`count(*)` }).from(inner.as("m")).get();
  return row?.n ?? 0;
}

/** One page of segments in id order, after the `after` id. */
export async function segmentPage(db: Database, limit: number, after?: string): Promise<SegmentRow[]> {
  return db
    .select()
    .from(segments)
    .where(after ? gt(segments.id, after) : undefined)
    .orderBy(asc(segments.id))
    .limit(limit);
}

/**
 * The `contact_scans` table: walks over a flow's contacts carried across cron runs (contact/contact-scans). The
 * cursor only moves by compare-and-set, so of two overlapping runs only one moves it; lists go in as one JSON
 * parameter.
 */
import { sql } from "drizzle-orm";
import type { Database } from "./client";
import type { ContactScanKind, ContactScanRow } from "./schema";

/** A walk to start: its kind and flow. */
export interface ContactScanStart {
  kind: ContactScanKind;
  flowId: string;
}

/** The id of a flow's walk of one kind: one runs at a time. */
export function contactScanId(kind: ContactScanKind, flowId: string): string {
  return `${kind}:${flowId}`;
}

/**
 * Starts walks from the first contact. `restart` starts a running one over (the flow was activated again, so
 * contacts already passed may need it again); otherwise a running walk keeps its place.
 */
export async function startContactScans(db: Database, scans: ContactScanStart[], now: number, restart: boolean): Promise<void> {
  if (scans.length === 0) return;
  const rows = JSON.stringify(scans.map((s) => ({ id: contactScanId(s.kind, s.flowId), kind: s.kind, flowId: s.flowId })));
  const onConflict = restart
    ? sql`DO UPDATE SET cursor = '', started_at = excluded.started_at, updated_at = excluded.updated_at`
    : sql`DO NOTHING`;
  await db.run(sql`INSERT INTO contact_scans (id, kind, flow_id, cursor, started_at, updated_at)
    SELECT j.value ->> '$.id', j.value ->> '$.kind', j.value ->> '$.flowId', '', ${now}, ${now}
    FROM json_each(${rows}) AS j WHERE true
    ON CONFLICT(id) ${onConflict}`);
}

/** Running walks, oldest first (optionally only one flow's). */
export function runningContactScans(db: Database, limit: number, flowId?: string): Promise<ContactScanRow[]> {
  const only = flowId === undefined ? sql`` : sql`WHERE flow_id = ${flowId}`;
  return db.all<ContactScanRow>(sql`SELECT id, kind, flow_id AS flowId, cursor, started_at AS startedAt, updated_at AS updatedAt
    FROM contact_scans ${only} ORDER BY started_at, id LIMIT ${limit}`);
}

/** Moves a walk's cursor from `from` to `to`; false when another run moved it first or the walk was started over. */
export async function moveContactScan(db: Database, id: string, from: string, to: string, now: number): Promise<boolean> {
  const moved = await db.all<{ id: string }>(
    sql`UPDATE contact_scans SET cursor = ${to}, updated_at = ${now} WHERE id = ${id} AND cursor = ${from} RETURNING id`,
  );
  return moved.length > 0;
}

/** Ends a walk that reached its end from `from` (unless it was started over meanwhile). */
export async function finishContactScan(db: Database, id: string, from: string): Promise<void> {
  await db.run(sql`DELETE FROM contact_scans WHERE id = ${id} AND cursor = ${from}`);
}

/** Contacts with an active enrollment in the flow after `after`, in id order, up to `limit` (the D1 mirror). */
export async function activeEnrollmentContacts(db: Database, flowId: string, after: string, limit: number): Promise<string[]> {
  const rows = await db.all<{ id: string }>(sql`SELECT DISTINCT contact_id AS id FROM enrollments
    WHERE flow_id = ${flowId} AND status = 'active' AND contact_id > ${after} ORDER BY contact_id LIMIT ${limit}`);
  return rows.map((r) => r.id);
}

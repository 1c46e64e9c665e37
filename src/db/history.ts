/**
 * Reading contacts' stored event history back, for simulations: which contacts had a trigger's events in a
 * window, and their events in it, oldest first, each list capped. Lists are bound as one JSON parameter.
 */
import { sql } from "drizzle-orm";
import type { FlowEvent } from "../flows/interpreter";
import type { Database } from "./client";

/** Up to `limit` contacts with a non-machine event named in `names` between `from` and `to` (of `attribute`, for attribute_changed). */
export async function contactsWithEvents(
  db: Database,
  names: string[],
  attribute: string | null,
  from: number,
  to: number,
  limit: number,
): Promise<string[]> {
  const ofAttribute = attribute === null ? sql`` : sql` AND properties ->> '$.attribute' = ${attribute}`;
  const rows = await db.all<{ id: string }>(sql`SELECT DISTINCT contact_id AS id FROM events
    WHERE name IN (SELECT value FROM json_each(${JSON.stringify(names)})) AND ts >= ${from} AND ts <= ${to}
      AND machine = 0 AND contact_id IS NOT NULL${ofAttribute}
    LIMIT ${limit}`);
  return rows.map((r) => r.id);
}

/** Each contact's events between `from` and `to`, oldest first (ties in the order stored), at most `perContact` each. */
export async function contactEventHistory(
  db: Database,
  contactIds: string[],
  from: number,
  to: number,
  perContact: number,
): Promise<Map<string, FlowEvent[]>> {
  const out = new Map<string, FlowEvent[]>(contactIds.map((id) => [id, []]));
  if (contactIds.length === 0) return out;
  const rows = await db.all<{
    id: string;
    contact_id: string;
    name: string;
    properties: string;
    value: number | null;
    source: string;
    machine: number;
    message_id: string | null;
    ts: number;
  }>(sql`SELECT id, contact_id, name, properties, value, source, machine, message_id, ts FROM (
      SELECT e.*, row_number() OVER (PARTITION BY e.contact_id ORDER BY e.ts, e.rowid) AS position
      FROM events e
      WHERE e.contact_id IN (SELECT value FROM json_each(${JSON.stringify(contactIds)})) AND e.ts >= ${from} AND e.ts <= ${to})
    WHERE position <= ${perContact}
    ORDER BY contact_id, position`);
  for (const r of rows) {
    out.get(r.contact_id)?.push({
      id: r.id,
      name: r.name,
      properties: JSON.parse(r.properties) as Record<string, unknown>,
      value: r.value,
      ts: r.ts,
      machine: r.machine === 1,
      messageId: r.message_id,
      source: r.source,
    });
  }
  return out;
}

/**
 * Queries on the events table. Batches go through `json_each` over one JSON
 * parameter, so 500 events are one statement and D1's bound-parameter limit
 * never applies.
 */
import { sql } from "drizzle-orm";
import type { Database } from "./client";
import type { ContactEvent } from "./contact-event";
import type { EventRow } from "./schema";

/** An event ready to store. */
export type EventInsert = Pick<
  EventRow,
  "id" | "contactId" | "anonymousId" | "name" | "properties" | "value" | "source" | "machine" | "messageId" | "ts"
>;

/**
 * Stores events, ignoring ids already stored and events of a contact that no longer exists (erased while a send
 * was in flight, say: storing them would re-create rows naming the person); returns the ids that were new.
 */
export async function insertEvents(db: Database, rows: EventInsert[], now: number): Promise<Set<string>> {
  if (rows.length === 0) return new Set();
  const payload = JSON.stringify(rows.map((r) => ({ ...r, machine: r.machine ? 1 : 0, properties: JSON.stringify(r.properties) })));
  const inserted = await db.all<{ id: string }>(sql`INSERT INTO events
      (id, contact_id, anonymous_id, name, properties, value, source, machine, message_id, ts, received_at)
    SELECT j.value ->> '$.id', j.value ->> '$.contactId', j.value ->> '$.anonymousId', j.value ->> '$.name',
      j.value ->> '$.properties', j.value ->> '$.value', j.value ->> '$.source', j.value ->> '$.machine',
      j.value ->> '$.messageId', j.value ->> '$.ts', ${now}
    FROM json_each(${payload}) AS j
    WHERE j.value ->> '$.contactId' IS NULL OR EXISTS (SELECT 1 FROM contacts WHERE id = j.value ->> '$.contactId')
    ON CONFLICT(id) DO NOTHING
    RETURNING id`);
  return new Set(inserted.map((r) => r.id));
}

/**
 * Adds newly stored `order_placed` events to their contacts' order count, total spent and last order time.
 * Snippet events never count: only the admin API and connectors carry money (SPEC section 11).
 */
export async function applyOrderTotals(db: Database, newEventIds: Iterable<string>): Promise<void> {
  const ids = JSON.stringify([...newEventIds]);
  await db.run(sql`UPDATE contacts SET
      orders_count = orders_count + o.n,
      total_spent = total_spent + o.v,
      last_order_at = max(coalesce(last_order_at, 0), o.last)
    FROM (SELECT contact_id, count(*) AS n, sum(coalesce(value, 0)) AS v, max(ts) AS last
          FROM events WHERE id IN (SELECT value FROM json_each(${ids})) AND name = 'order_placed' AND contact_id IS NOT NULL
            AND source <> 'snippet'
          GROUP BY contact_id) AS o
    WHERE contacts.id = o.contact_id`);
}

/**
 * Loads stored events by id as the ContactTimer receives them (contactless events are left out), in the order
 * of `ids`: events of one request that share a timestamp are processed in the order they were sent.
 */
export async function loadContactEvents(db: Database, ids: string[]): Promise<ContactEvent[]> {
  if (ids.length === 0) return [];
  const rows = await db.all<{
    id: string;
    contact_id: string;
    name: string;
    properties: string;
    value: number | null;
    source: ContactEvent["source"];
    machine: number;
    message_id: string | null;
    ts: number;
  }>(sql`SELECT e.id, e.contact_id, e.name, e.properties, e.value, e.source, e.machine, e.message_id, e.ts
    FROM (SELECT value AS id, min(key) AS position FROM json_each(${JSON.stringify(ids)}) GROUP BY value) AS wanted
    JOIN events e ON e.id = wanted.id
    WHERE e.contact_id IS NOT NULL
    ORDER BY wanted.position`);
  return rows.map((r) => ({
    id: r.id,
    contactId: r.contact_id,
    name: r.name,
    properties: JSON.parse(r.properties) as ContactEvent["properties"],
    value: r.value,
    source: r.source,
    machine: r.machine === 1,
    messageId: r.message_id,
    ts: r.ts,
  }));
}

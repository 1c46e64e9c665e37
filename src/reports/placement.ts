/** SQL fragments shared by rollups and attribution: which day, flow, step and variant an event counts for. */
import { sql } from "drizzle-orm";

/** The SQL expression of an event's UTC day (`YYYY-MM-DD`) from its ms timestamp. */
export const dayOf = (column: string) => sql.raw(`strftime('%Y-%m-%d', ${column} / 1000, 'unixepoch')`);

/**
 * The SQL expressions that place an event (alias `e`, its message `m`) in a flow, step and variant. A broadcast's
 * mail has no flow: it is placed under `broadcast:<id>` (db/broadcasts `broadcastStatsKey`), its variant as sent.
 */
export const placementOf = (event: string, message: string) =>
  sql.raw(`CAST(coalesce(${event}.properties ->> '$.flow_id', ${message}.flow_id,
      'broadcast:' || ${message}.broadcast_id, '') AS TEXT) AS flow_id,
    CAST(coalesce(${event}.properties ->> '$.step_id', ${message}.step_id, '') AS TEXT) AS step_id,
    CAST(coalesce(${event}.properties ->> '$.variant', ${message}.variant, '') AS TEXT) AS variant`);

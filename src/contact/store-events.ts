/**
 * Storing events: each id once, the contact's order totals, and the rollups of the newly stored ones. Storing
 * calls no ContactTimer and sends nothing; the pipeline (src/pipeline) dispatches what this stored.
 */
import type { Database } from "../db/client";
import type { ContactEvent } from "../db/contact-event";
import { applyOrderTotals, type EventInsert, insertEvents, loadContactEvents } from "../db/events";
import type { Config } from "../env";
import { attributionWindows } from "../reports/attribution";
import { rollupEvents } from "../reports/rollups";

/** What storing a batch did: the ids that were new, and every stored event that names a contact (new or known). */
export interface StoredEvents {
  newIds: Set<string>;
  stored: ContactEvent[];
}

/** Stores events and keeps order totals and rollups, without dispatching (the ContactTimer's own events it processes itself). */
export async function storeEvents(db: Database, config: Config, rows: EventInsert[], now: number): Promise<StoredEvents> {
  const newIds = await insertEvents(db, rows, now);
  if (newIds.size > 0) {
    await applyOrderTotals(db, newIds);
    // Rollups count each event once: only the newly stored ones.
    await rollupEvents(
      db,
      [...newIds].map((id) => ({ id })),
      now,
      attributionWindows(config),
    );
  }
  const stored = await loadContactEvents(
    db,
    rows.filter((r) => r.contactId).map((r) => r.id),
  );
  return { newIds, stored };
}

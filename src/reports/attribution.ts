/**
 * Revenue attribution: an `order_placed` with a `value` is credited to the
 * last email the contact clicked (human clicks only) within the click window
 * (default 5 days), else to the last email they opened within the open window
 * (default 1 day). The order's value and one conversion go to that email's
 * flow, step and variant, on the order's UTC day. Machine opens and clicks
 * never count, nor do orders the public snippet reports. Lookups use `events_contact_name_ts_idx` (contact, name, ts).
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import type { Config } from "../env";
import { dayOf, placementOf } from "./placement";

/** How far back an order looks for a click, then for an open (ms). */
export type AttributionWindows = { clickMs: number; openMs: number };

/** Five days for clicks, one day for opens. */
export const DEFAULT_ATTRIBUTION_WINDOWS: AttributionWindows = { clickMs: 5 * 86_400_000, openMs: 86_400_000 };

/** The windows configured by ATTRIBUTION_CLICK_WINDOW / ATTRIBUTION_OPEN_WINDOW. */
export function attributionWindows(config: Config): AttributionWindows {
  return { clickMs: config.ATTRIBUTION_CLICK_WINDOW, openMs: config.ATTRIBUTION_OPEN_WINDOW };
}

/** Credits the orders among the given (JSON array of) event ids to the emails that earned them. */
export async function attributeOrders(db: Database, eventIdsJson: string, windows: AttributionWindows): Promise<void> {
  await db.run(sql`INSERT INTO stats_daily (flow_id, day, step_id, variant, conversions, revenue)
    SELECT flow_id, day, step_id, variant, count(*), sum(value) FROM (
      SELECT o.value, ${dayOf("o.ts")} AS day, ${placementOf("t", "m")}
      FROM (
        SELECT o.id, o.ts, o.value, coalesce(
          (SELECT c.id FROM events c WHERE c.contact_id = o.contact_id AND c.name = 'email_clicked' AND c.machine = 0
             AND c.message_id IS NOT NULL AND c.ts <= o.ts AND c.ts >= o.ts - ${windows.clickMs}
             ORDER BY c.ts DESC, c.id DESC LIMIT 1),
          (SELECT c.id FROM events c WHERE c.contact_id = o.contact_id AND c.name = 'email_opened' AND c.machine = 0
             AND c.message_id IS NOT NULL AND c.ts <= o.ts AND c.ts >= o.ts - ${windows.openMs}
             ORDER BY c.ts DESC, c.id DESC LIMIT 1)) AS touch_id
        FROM events o
        WHERE o.id IN (SELECT value FROM json_each(${eventIdsJson})) AND o.name = 'order_placed'
          AND o.value IS NOT NULL AND o.contact_id IS NOT NULL AND o.source <> 'snippet'
      ) AS o
      JOIN events t ON t.id = o.touch_id
      LEFT JOIN messages m ON m.id = t.message_id
    ) WHERE true
    GROUP BY flow_id, day, step_id, variant
    ON CONFLICT (flow_id, day, step_id, variant) DO UPDATE SET
      conversions = conversions + excluded.conversions, revenue = revenue + excluded.revenue`);
}

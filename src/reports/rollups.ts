/**
 * Report rollups: keeps `stats_daily` (UTC day × flow × step × variant) up to
 * date as events are recorded, so that no report ever scans `events`.
 *
 * Everything is bulk SQL over one JSON parameter (`json_each`), so a batch of
 * 500 events is a handful of statements whatever D1's bound-parameter limit.
 * This module owns the counting rules:
 * - an email event belongs to the flow/step/variant named in its properties,
 *   else to those of its message; email events outside any flow go to flow '';
 * - a message is opened once: on its first human `email_opened` or
 *   `email_clicked` (a human click is also an open), clicked once on its first
 *   human `email_clicked`. "First" is decided from `events` by message id
 *   (index `events_message_idx`), in storage order (rowid), so that two
 *   batches racing on one message, or arriving out of time order, still count
 *   it exactly once;
 * - machine opens and clicks are counted apart and never in unique counts;
 * - `order_placed` with a value is attributed (see attribution.ts);
 * - events the public snippet sent never move a counter (SPEC section 11).
 * It must only be given events that were newly stored: it is not idempotent.
 */
import { sql } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "../db/client";
import { type AttributionWindows, attributeOrders, DEFAULT_ATTRIBUTION_WINDOWS } from "./attribution";
import { dayOf, placementOf } from "./placement";

/** The email events that move counters. */
export const EMAIL_EVENT_NAMES = [
  "email_sent",
  "email_delivered",
  "email_opened",
  "email_clicked",
  "email_bounced",
  "email_complained",
  "unsubscribed",
] as const;

const emailEventList = sql.raw(EMAIL_EVENT_NAMES.map((n) => `'${n}'`).join(", "));

/** Counters the flow engine reports through `bumpRollups`: `entered` a flow, `converted` = a goal reached. */
export const RollupIncrement = z.object({
  ts: z.number().int().nonnegative(),
  flowId: z.string().min(1),
  stepId: z.string().nullable(),
  variant: z.string().nullable(),
  counter: z.enum(["entered", "converted"]),
  /** How much to add (default 1). */
  amount: z.number().int().positive().optional(),
});
export type RollupIncrement = z.infer<typeof RollupIncrement>;

/** The part of a stored event rollups need: its id (the row is read back from D1). */
export type RolledUpEvent = { id: string };

/** Adds newly stored events to the rollups (email counters, then order attribution). */
export async function rollupEvents(
  db: Database,
  events: RolledUpEvent[],
  _now: number,
  windows: AttributionWindows = DEFAULT_ATTRIBUTION_WINDOWS,
): Promise<void> {
  if (events.length === 0) return;
  const ids = JSON.stringify(events.map((e) => e.id));
  await db.run(sql`INSERT INTO stats_daily
      (flow_id, day, step_id, variant, sent, delivered, unique_opens, unique_clicks, machine_opens, machine_clicks,
       bounces, complaints, unsubscribes)
    SELECT flow_id, day, step_id, variant,
      sum(name = 'email_sent'), sum(name = 'email_delivered'), sum(first_open), sum(first_click),
      sum(machine = 1 AND name = 'email_opened'), sum(machine = 1 AND name = 'email_clicked'),
      sum(name = 'email_bounced'), sum(name = 'email_complained'), sum(name = 'unsubscribed')
    FROM (
      SELECT e.name, e.machine, ${dayOf("e.ts")} AS day, ${placementOf("e", "m")},
        (e.machine = 0 AND e.message_id IS NOT NULL AND e.name IN ('email_opened', 'email_clicked') AND NOT EXISTS (
          SELECT 1 FROM events p WHERE p.message_id = e.message_id AND p.name IN ('email_opened', 'email_clicked') AND p.machine = 0
            AND p.rowid < e.rowid)) AS first_open,
        (e.machine = 0 AND e.message_id IS NOT NULL AND e.name = 'email_clicked' AND NOT EXISTS (
          SELECT 1 FROM events p WHERE p.message_id = e.message_id AND p.name = 'email_clicked' AND p.machine = 0
            AND p.rowid < e.rowid)) AS first_click
      FROM events e LEFT JOIN messages m ON m.id = e.message_id
      WHERE e.id IN (SELECT value FROM json_each(${ids})) AND e.name IN (${emailEventList}) AND e.source <> 'snippet'
    ) WHERE true
    GROUP BY flow_id, day, step_id, variant
    ON CONFLICT (flow_id, day, step_id, variant) DO UPDATE SET
      sent = sent + excluded.sent, delivered = delivered + excluded.delivered,
      unique_opens = unique_opens + excluded.unique_opens, unique_clicks = unique_clicks + excluded.unique_clicks,
      machine_opens = machine_opens + excluded.machine_opens, machine_clicks = machine_clicks + excluded.machine_clicks,
      bounces = bounces + excluded.bounces, complaints = complaints + excluded.complaints,
      unsubscribes = unsubscribes + excluded.unsubscribes`);
  await attributeOrders(db, ids, windows);
}

/** Adds the flow engine's counters (enrollments, goal completions) to the rollups. */
export async function bumpRollups(db: Database, increments: RollupIncrement[]): Promise<void> {
  if (increments.length === 0) return;
  const payload = JSON.stringify(
    increments.map((i) => ({
      ts: i.ts,
      flowId: i.flowId,
      stepId: i.stepId ?? "",
      variant: i.variant ?? "",
      entered: i.counter === "entered" ? (i.amount ?? 1) : 0,
      goals: i.counter === "converted" ? (i.amount ?? 1) : 0,
    })),
  );
  await db.run(sql`INSERT INTO stats_daily (flow_id, day, step_id, variant, entered, goals)
    SELECT flow_id, day, step_id, variant, sum(entered), sum(goals) FROM (
      SELECT j.value ->> '$.flowId' AS flow_id, ${dayOf("(j.value ->> '$.ts')")} AS day,
        j.value ->> '$.stepId' AS step_id, j.value ->> '$.variant' AS variant,
        j.value ->> '$.entered' AS entered, j.value ->> '$.goals' AS goals
      FROM json_each(${payload}) AS j
    ) WHERE true
    GROUP BY flow_id, day, step_id, variant
    ON CONFLICT (flow_id, day, step_id, variant) DO UPDATE SET
      entered = entered + excluded.entered, goals = goals + excluded.goals`);
}

/**
 * A broadcast's report, from the rollups (never `events`) plus its messages'
 * outcomes: totals and each A/B variant with the same fields as a flow step's,
 * the test's comparison, and the winner with the reason it won.
 */
import { z } from "@hono/zod-openapi";
import { sql } from "drizzle-orm";
import { broadcastStatsKey } from "../db/broadcasts";
import type { Database } from "../db/client";
import { AbComparison, compareVariants } from "./abtest";
import type { WINNER_METRICS } from "./definition";
import { addCounters, type Counters, zeroCounters } from "./metrics";
import { COUNTER_SUMS, countersOf, Measured, measured, type SummedRow } from "./stats";

/** Where each message of a broadcast ended up (smart-sending skips and the held A/B remainder apart). */
export const BroadcastOutcomes = z
  .object({
    total: z.number().int().openapi({ description: "Contacts in the audience as fixed, one message each" }),
    queued: z.number().int(),
    held: z.number().int().openapi({ description: "The A/B remainder, waiting for the winner" }),
    sending: z.number().int(),
    sent: z.number().int(),
    failed: z.number().int(),
    suppressed: z.number().int().openapi({ description: "Unsubscribed or suppressed by the time of sending" }),
    skipped_recently_emailed: z.number().int().openapi({ description: "Left out by skip_if_emailed_within" }),
    cancelled: z.number().int(),
  })
  .openapi("BroadcastOutcomes");
export type BroadcastOutcomes = z.infer<typeof BroadcastOutcomes>;

/** The A/B winner as recorded: the variant, why it won and when. */
export const BroadcastWinner = z
  .object({
    variant: z.string(),
    reason: z.enum(["significant", "higher_rate_not_significant", "tie_first_variant"]).openapi({
      description: "`significant` at 95%; `higher_rate_not_significant` when no variant was significantly better",
    }),
    p_value: z.number().nullable(),
    decided_at: z.string(),
  })
  .openapi("BroadcastWinner");

/** A broadcast's numbers. */
export const BroadcastStats = z
  .object({
    broadcast: z.object({ id: z.string(), name: z.string(), status: z.string() }),
    outcomes: BroadcastOutcomes,
    totals: Measured,
    variants: z.array(Measured.extend({ variant: z.string(), subject: z.string().nullable(), template: z.string() })),
    ab: AbComparison.extend({
      variants: z.array(
        z.object({ variant: z.string(), sent: z.number().int(), successes: z.number().int(), rate: z.number().nullable() }),
      ),
      leader: z.string().nullable().openapi({ description: "The variant with the higher rate so far" }),
      sample_percent: z.number().int(),
      wait: z.string(),
      winner: BroadcastWinner.nullable(),
    })
      .nullable()
      .openapi("BroadcastAbResult"),
  })
  .openapi("BroadcastStats");
export type BroadcastStats = z.infer<typeof BroadcastStats>;

/** The variants of a test as the report names them. */
export type ReportedVariant = { name: string; subject: string | null; template: string };

/** Builds a broadcast's report from its rollups. */
export async function broadcastStats(
  db: Database,
  broadcast: { id: string; name: string; status: string; winner: unknown },
  test: { metric: (typeof WINNER_METRICS)[number]; sample_percent: number; wait: string; variants: ReportedVariant[] } | null,
  outcomes: BroadcastOutcomes,
): Promise<BroadcastStats> {
  const rows = await db.all<SummedRow & { variant: string }>(sql`SELECT variant, ${COUNTER_SUMS}
    FROM stats_daily WHERE flow_id = ${broadcastStatsKey(broadcast.id)} GROUP BY variant`);
  const totals = zeroCounters();
  const byVariant = new Map<string, Counters>();
  for (const row of rows) {
    const c = countersOf(row);
    addCounters(totals, c);
    if (row.variant !== "") byVariant.set(row.variant, c);
  }
  const variants = (test?.variants ?? []).map((v) => ({
    variant: v.name,
    subject: v.subject,
    template: v.template,
    ...measured(byVariant.get(v.name) ?? zeroCounters()),
  }));
  const comparison =
    test &&
    compareVariants(
      test.metric,
      test.variants.map((v) => ({ template: v.name, counters: byVariant.get(v.name) ?? zeroCounters() })),
    );
  const ab = test
    ? {
        ...comparison!,
        variants: comparison!.variants.map(({ template, ...rest }) => ({ variant: template, ...rest })),
        sample_percent: test.sample_percent,
        wait: test.wait,
        winner: (broadcast.winner as z.infer<typeof BroadcastWinner> | null) ?? null,
      }
    : null;
  return {
    broadcast: { id: broadcast.id, name: broadcast.name, status: broadcast.status },
    outcomes,
    totals: measured(totals),
    variants,
    ab,
  };
}

/** Each broadcast's totals from the rollups, in one query (the list's numbers). */
export async function broadcastTotals(db: Database, ids: string[]): Promise<Map<string, Measured>> {
  const keys = ids.map(broadcastStatsKey);
  const rows = await db.all<SummedRow & { key: string }>(sql`SELECT flow_id AS key, ${COUNTER_SUMS}
    FROM stats_daily WHERE flow_id IN (SELECT value FROM json_each(${JSON.stringify(keys)})) GROUP BY flow_id`);
  const byKey = new Map(rows.map((r) => [r.key, countersOf(r)]));
  return new Map(ids.map((id) => [id, measured(byKey.get(broadcastStatsKey(id)) ?? zeroCounters())]));
}

/**
 * A/B results and winners. For an email step with `variants`, each variant's
 * rate (open, click or conversion rate, per the step's `winner.metric`) is
 * compared with a two-proportion z-test between the leader and the runner-up.
 * Once a step's `winner.after` has passed since its first send, and the result
 * is significant at 95% (or the rule sets `require_significance: false`), the
 * leader is recorded in `ab_winners` and takes all later sends (the flow engine
 * reads `loadWinners` before running the interpreter). A decision is final.
 */

import { z } from "@hono/zod-openapi";
import { and, eq, isNotNull, min, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { abWinners, flows, messages } from "../db/schema";
import { parseDuration } from "../flows/duration";
import { reportedSteps, variantKeys, WINNER_METRICS, type WinnerMetric } from "./definition";
import { type Counters, zeroCounters } from "./metrics";

/** The p-value threshold for "significant at 95%". */
export const SIGNIFICANCE = 0.05;

/** erfc(x), Numerical Recipes' Chebyshev fit: fractional error below 1.2e-7 everywhere. */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** Two-sided p-value of the pooled two-proportion z-test of x1/n1 against x2/n2 (1 when undefined). */
export function twoProportionPValue(x1: number, n1: number, x2: number, n2: number): number {
  if (n1 <= 0 || n2 <= 0) return 1;
  const pooled = (x1 + x2) / (n1 + n2);
  if (pooled <= 0 || pooled >= 1) return 1;
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  const z = (x1 / n1 - x2 / n2) / se;
  return Math.min(1, erfc(Math.abs(z) / Math.SQRT2));
}

/** The successes a metric counts, out of emails sent. */
export function successesFor(metric: WinnerMetric, c: Counters): number {
  return metric === "open_rate" ? c.opened : metric === "click_rate" ? c.clicked : c.converted;
}

/** The A/B comparison of one step: each variant's rate, the leader, and the p-value against the runner-up. */
export const AbComparison = z.object({
  metric: z.enum(WINNER_METRICS),
  variants: z.array(z.object({ template: z.string(), sent: z.number().int(), successes: z.number().int(), rate: z.number().nullable() })),
  leader: z.string().nullable(),
  p_value: z.number().nullable(),
  significant: z.boolean(),
});
export type AbComparison = z.infer<typeof AbComparison>;

/** Compares a step's variants on a metric (pure). */
export function compareVariants(metric: WinnerMetric, variants: { template: string; counters: Counters }[]): AbComparison {
  const rows = variants.map((v) => {
    const successes = successesFor(metric, v.counters);
    const sent = v.counters.sent;
    return { template: v.template, sent, successes, rate: sent > 0 ? Math.round((successes / sent) * 10_000) / 10_000 : null };
  });
  const ranked = rows.filter((r) => r.sent > 0).sort((a, b) => b.successes / b.sent - a.successes / a.sent);
  const [first, second] = ranked;
  if (!first || !second) return { metric, variants: rows, leader: first?.template ?? null, p_value: null, significant: false };
  const p = twoProportionPValue(first.successes, first.sent, second.successes, second.sent);
  const tie = first.successes / first.sent === second.successes / second.sent;
  return {
    metric,
    variants: rows,
    leader: tie ? null : first.template,
    p_value: Math.round(p * 1e6) / 1e6,
    significant: !tie && p < SIGNIFICANCE,
  };
}

/** The counters of each variant of a step, summed over all days. */
export async function variantCounters(db: Database, flowId: string, stepId: string): Promise<Map<string, Counters>> {
  const rows = await db.all<{ variant: string; sent: number; opened: number; clicked: number; converted: number }>(sql`
    SELECT variant, sum(sent) AS sent, sum(unique_opens) AS opened, sum(unique_clicks) AS clicked, sum(conversions) AS converted
    FROM stats_daily WHERE flow_id = ${flowId} AND step_id = ${stepId} AND variant != '' GROUP BY variant`);
  const out = new Map<string, Counters>();
  for (const r of rows) {
    out.set(r.variant, { ...zeroCounters(), sent: r.sent, opened: r.opened, clicked: r.clicked, converted: r.converted });
  }
  return out;
}

/** A winner decided by `decideWinners`. */
export type WinnerDecision = { flowId: string; stepId: string; templateId: string; pValue: number };

/** Hourly job: records the winner of every due A/B step of the active flows. */
export async function decideWinners(db: Database, now: number): Promise<WinnerDecision[]> {
  const activeFlows = await db.select({ id: flows.id, definition: flows.definition }).from(flows).where(eq(flows.status, "active"));
  const decided = new Set(
    (await db.select({ flowId: abWinners.flowId, stepId: abWinners.stepId }).from(abWinners)).map((w) => `${w.flowId}\u0000${w.stepId}`),
  );
  const decisions: WinnerDecision[] = [];
  for (const flow of activeFlows) {
    for (const step of reportedSteps(flow.definition)) {
      if (step.type !== "email" || !step.variants || !step.winner || decided.has(`${flow.id}\u0000${step.id}`)) continue;
      const after = parseDuration(step.winner.after);
      if (after === null) continue;
      const [first] = await db
        .select({ at: min(messages.sentAt) })
        .from(messages)
        .where(and(eq(messages.flowId, flow.id), eq(messages.stepId, step.id), isNotNull(messages.sentAt)));
      if (!first?.at || now < first.at + after) continue;
      const counters = await variantCounters(db, flow.id, step.id);
      const comparison = compareVariants(
        step.winner.metric,
        variantKeys(step).map((key) => ({ template: key, counters: counters.get(key) ?? zeroCounters() })),
      );
      const mustBeSignificant = step.winner.require_significance !== false;
      if (!comparison.leader || (mustBeSignificant && !comparison.significant)) continue;
      const decision = { flowId: flow.id, stepId: step.id, templateId: comparison.leader, pValue: comparison.p_value ?? 1 };
      await db
        .insert(abWinners)
        .values({ ...decision, decidedAt: now })
        .onConflictDoNothing();
      decisions.push(decision);
    }
  }
  return decisions;
}

/** The decided winners of a flow: step id → template id. */
export async function loadWinners(db: Database, flowId: string): Promise<Record<string, string>> {
  const rows = await db.select().from(abWinners).where(eq(abWinners.flowId, flowId));
  return Object.fromEntries(rows.map((r) => [r.stepId, r.templateId]));
}

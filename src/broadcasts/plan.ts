/**
 * The pure decisions of a broadcast: when each time zone's messages are due,
 * which share of the audience is the A/B sample and which variant each slot
 * gets, and which variant wins. No I/O and no clock: every instant is passed in.
 */

import { nextTimeOfDay, outsideQuietHours } from "../flows/schedule";
import { type AbComparison, compareVariants } from "../reports/abtest";
import type { WinnerMetric } from "../reports/definition";
import type { Counters } from "../reports/metrics";
import type { BroadcastAbTest, BroadcastInput } from "./schema";

/** Variant names in the order the test lists them: `a`, `b`, … */
export const VARIANT_NAMES = ["a", "b", "c", "d", "e"] as const;

/** The due instant of a held (A/B remainder) message: never, until the winner is released. */
export const HELD_UNTIL_WINNER = 8_640_000_000_000_000;

/** When a contact in `zone` is due: at send_at, or at `local_time` on or after it in that zone, then past quiet hours if set. */
export function dueIn(zone: string, from: number, plan: Pick<BroadcastInput, "local_time" | "quiet_hours">): number {
  const at = plan.local_time ? nextTimeOfDay(from, plan.local_time, undefined, zone) : from;
  return plan.quiet_hours ? outsideQuietHours(at, plan.quiet_hours, zone) : at;
}

/** The due instant of each zone, as the one JSON object a page's INSERT reads (zone → ms). */
export function dueByZone(zones: string[], from: number, plan: Pick<BroadcastInput, "local_time" | "quiet_hours">): Record<string, number> {
  return Object.fromEntries(zones.map((zone) => [zone, dueIn(zone, from, plan)]));
}

/** Whether due times depend on the contact's zone at all. */
export function zoned(plan: Pick<BroadcastInput, "local_time" | "quiet_hours">): boolean {
  return plan.local_time !== undefined || plan.quiet_hours !== undefined;
}

/**
 * How many of the first `audience` contacts (by their ordinal in the fixed audience) are in the sample. Ordinal g is
 * sampled when ⌊(g+1)·p/100⌋ > ⌊g·p/100⌋, so every prefix of the audience holds exactly ⌊n·p/100⌋ of them, spread
 * evenly through it (db/broadcasts applies the same rule in SQL), and the k-th of them gets variant k mod the count.
 */
export function sampleSize(audience: number, samplePercent: number): number {
  return Math.floor((audience * samplePercent) / 100);
}

/** Why a test cannot run on an audience of this size, or null when every variant and the remainder get someone. */
export function sampleProblem(audience: number, test: BroadcastAbTest): string | null {
  const sample = sampleSize(audience, test.sample_percent);
  if (sample < test.variants.length) return `A ${test.sample_percent}% sample of ${audience} contacts leaves a variant with nobody`;
  if (audience - sample < 1) return `A ${test.sample_percent}% sample of ${audience} contacts leaves nobody for the winner`;
  return null;
}

/** How the winner was chosen: significant at 95%, the higher rate without significance, or the first variant on a tie. */
export type WinnerReason = "significant" | "higher_rate_not_significant" | "tie_first_variant";

/** The A/B decision: the comparison, the winning variant and why. */
export interface WinnerChoice {
  variant: string;
  reason: WinnerReason;
  comparison: AbComparison;
}

/** Picks the winner from each variant's counters with the flows' significance test; never leaves the remainder without one. */
export function chooseWinner(metric: WinnerMetric, variants: { name: string; counters: Counters }[]): WinnerChoice {
  const comparison = compareVariants(
    metric,
    variants.map((v) => ({ template: v.name, counters: v.counters })),
  );
  if (comparison.leader === null) return { variant: variants[0]!.name, reason: "tie_first_variant", comparison };
  return { variant: comparison.leader, reason: comparison.significant ? "significant" : "higher_rate_not_significant", comparison };
}

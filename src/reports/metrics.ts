/**
 * The report vocabulary: the counters read from rollups, the rates derived
 * from them and ROI. Pure; shared by the stats API and the dashboard so both
 * show the same numbers. Every rate is over emails sent, so steps, variants
 * and flows compare on one footing.
 */
import { z } from "@hono/zod-openapi";

export const Counters = z
  .object({
    entered: z.number().int().openapi({ description: "Contacts who entered the flow" }),
    sent: z.number().int(),
    delivered: z.number().int(),
    opened: z.number().int().openapi({ description: "Emails opened by a human at least once (a human click counts as an open)" }),
    clicked: z.number().int().openapi({ description: "Emails clicked by a human at least once" }),
    machine_opened: z.number().int().openapi({ description: "Opens by privacy proxies and scanners, kept out of rates" }),
    machine_clicked: z.number().int().openapi({ description: "Clicks by link scanners, kept out of rates" }),
    bounced: z.number().int(),
    complained: z.number().int(),
    unsubscribed: z.number().int(),
    converted: z.number().int().openapi({ description: "Orders attributed to these emails" }),
    goals: z.number().int().openapi({ description: "Goal completions of the flow" }),
    revenue: z.number().openapi({ description: "Value of the attributed orders" }),
  })
  .openapi("StatsCounters");
export type Counters = z.infer<typeof Counters>;

export const Rates = z
  .object({
    open_rate: z.number().nullable(),
    click_rate: z.number().nullable(),
    click_to_open_rate: z.number().nullable(),
    bounce_rate: z.number().nullable(),
    complaint_rate: z.number().nullable(),
    unsubscribe_rate: z.number().nullable(),
    conversion_rate: z.number().nullable(),
    revenue_per_recipient: z.number().nullable(),
    goal_rate: z.number().nullable().openapi({ description: "Goal completions per contact who entered" }),
  })
  .openapi("StatsRates");
export type Rates = z.infer<typeof Rates>;

/** All counters at zero. */
export function zeroCounters(): Counters {
  return {
    entered: 0,
    sent: 0,
    delivered: 0,
    opened: 0,
    clicked: 0,
    machine_opened: 0,
    machine_clicked: 0,
    bounced: 0,
    complained: 0,
    unsubscribed: 0,
    converted: 0,
    goals: 0,
    revenue: 0,
  };
}

/** Adds `b` into `a` (in place) and returns `a`. */
export function addCounters(a: Counters, b: Counters): Counters {
  for (const key of Object.keys(a) as (keyof Counters)[]) a[key] += b[key];
  a.revenue = Math.round(a.revenue * 100) / 100;
  return a;
}

const ratio = (n: number, d: number) => (d > 0 ? Math.round((n / d) * 10_000) / 10_000 : null);

/** The rates of a set of counters (null when the denominator is zero). */
export function ratesOf(c: Counters): Rates {
  return {
    open_rate: ratio(c.opened, c.sent),
    click_rate: ratio(c.clicked, c.sent),
    click_to_open_rate: ratio(c.clicked, c.opened),
    bounce_rate: ratio(c.bounced, c.sent),
    complaint_rate: ratio(c.complained, c.sent),
    unsubscribe_rate: ratio(c.unsubscribed, c.sent),
    conversion_rate: ratio(c.converted, c.sent),
    revenue_per_recipient: c.sent > 0 ? Math.round((c.revenue / c.sent) * 100) / 100 : null,
    goal_rate: ratio(c.goals, c.entered),
  };
}

/** The average days in a month, to prorate MONTHLY_COST over a date range. */
const DAYS_PER_MONTH = 30.4375;

/** The cost of `days` days at a monthly cost. */
export function costOver(monthlyCost: number, days: number): number {
  return Math.round(((monthlyCost * days) / DAYS_PER_MONTH) * 100) / 100;
}

/** ROI = (revenue − cost) / cost; null when there is no cost to return on. */
export function returnOnInvestment(revenue: number, cost: number): number | null {
  return cost > 0 ? Math.round(((revenue - cost) / cost) * 10_000) / 10_000 : null;
}

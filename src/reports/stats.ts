/**
 * Reads reports from the rollups only (never `events`): one flow's totals,
 * steps, variants, A/B results and daily series, and the overview across all
 * flows. Every query is bounded by the date range through the primary key
 * (flow_id, day, …) or `stats_daily_day_idx`, so its cost follows the number
 * of days × steps × variants, not the number of events.
 */
import { z } from "@hono/zod-openapi";
import { eq, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { abWinners, FLOW_STATUSES, flows } from "../db/schema";
import { successors } from "../flows/successors";
import { AbComparison, compareVariants } from "./abtest";
import { type ReportedStep, reportedSteps, variantKeys } from "./definition";
import { addCounters, Counters, costOver, Rates, ratesOf, returnOnInvestment, zeroCounters } from "./metrics";

/** An inclusive range of UTC days, `YYYY-MM-DD`. */
export const DayRange = z.object({ from: z.string(), to: z.string() }).openapi("DayRange");
export type DayRange = z.infer<typeof DayRange>;

const DAY_MS = 86_400_000;

/** The UTC day of an instant. */
export const dayOfMs = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** Every day of a range, in order. */
export function daysIn(range: DayRange): string[] {
  const out: string[] = [];
  for (let t = Date.parse(`${range.from}T00:00:00Z`); t <= Date.parse(`${range.to}T00:00:00Z`); t += DAY_MS) out.push(dayOfMs(t));
  return out;
}

/** The summed counter columns, named as `Counters`. */
export const COUNTER_SUMS = sql.raw(`sum(entered) AS entered, sum(sent) AS sent, sum(delivered) AS delivered,
  sum(unique_opens) AS opened, sum(unique_clicks) AS clicked, sum(machine_opens) AS machine_opened,
  sum(machine_clicks) AS machine_clicked, sum(bounces) AS bounced, sum(complaints) AS complained,
  sum(unsubscribes) AS unsubscribed, sum(conversions) AS converted, sum(goals) AS goals, sum(revenue) AS revenue`);

/** A row of `COUNTER_SUMS`. */
export type SummedRow = { [K in keyof Counters]: number | null };

/** The counters of a `COUNTER_SUMS` row. */
export function countersOf(row: SummedRow): Counters {
  const c = zeroCounters();
  for (const key of Object.keys(c) as (keyof Counters)[]) c[key] = Number(row[key] ?? 0);
  c.revenue = Math.round(c.revenue * 100) / 100;
  return c;
}

/** Counters with their rates. */
export const Measured = Counters.extend({ rates: Rates }).openapi("StatsMeasured");
export type Measured = z.infer<typeof Measured>;
const Daily = Counters.extend({ day: z.string() });
/** Counters with their rates. */
export const measured = (c: Counters): Measured => ({ ...c, rates: ratesOf(c) });

/** The A/B result of a step: the comparison plus the recorded winner, if any. */
export const AbResult = AbComparison.extend({
  winner: z.object({ template: z.string(), decided_at: z.string(), p_value: z.number() }).nullable(),
}).openapi("AbResult");
export type AbResult = z.infer<typeof AbResult>;

/** One step of a flow with its numbers. */
export const StepStats = Measured.extend({
  id: z.string(),
  type: z.string().openapi({ description: "The step type, or `removed` for a step no longer in the definition" }),
  name: z.string().nullable(),
  summary: z.string().nullable().openapi({ description: "What a non-email step does, e.g. `for 2d`" }),
  templates: z.array(z.string()),
  next: z
    .array(z.object({ step: z.string(), label: z.string().nullable() }))
    .openapi({ description: "The steps this one leads to, labelled `then`/`else` for branches and by weight for splits" }),
  variants: z.array(Measured.extend({ template: z.string() })),
  ab: AbResult.nullable(),
}).openapi("StepStats");
export type StepStats = z.infer<typeof StepStats>;

/** The report of one flow over a range. */
export const FlowStats = z
  .object({
    flow: z.object({ id: z.string(), name: z.string(), status: z.enum(FLOW_STATUSES) }),
    range: DayRange,
    totals: Measured,
    steps: z.array(StepStats),
    daily: z.array(Daily),
  })
  .openapi("FlowStats");
export type FlowStats = z.infer<typeof FlowStats>;

/** Where a step may go next, for drawing the flow: the interpreter's successors, labelled (then/else, a split's share). */
function labelledSuccessors(steps: ReportedStep[], index: number): { step: string; label: string | null }[] {
  const paths = steps[index]?.paths ?? [];
  const total = paths.reduce((sum, p) => sum + p.weight, 0);
  const label = ([name, position]: (string | number)[]): string | null => {
    if (name === "then" || name === "else") return name;
    if (name === "paths") return `${Math.round(((paths[position as number]?.weight ?? 0) / total) * 100)}%`;
    return null;
  };
  return successors({ steps }, index).flatMap(({ field, target }) => (target === undefined ? [] : [{ step: target, label: label(field) }]));
}

/** One flow's report, or null when there is no such flow. */
export async function flowStats(db: Database, flowId: string, range: DayRange): Promise<FlowStats | null> {
  const [flow] = await db.select().from(flows).where(eq(flows.id, flowId));
  if (!flow) return null;
  const rows = await db.all<SummedRow & { step_id: string; variant: string }>(sql`SELECT step_id, variant, ${COUNTER_SUMS}
    FROM stats_daily WHERE flow_id = ${flowId} AND day BETWEEN ${range.from} AND ${range.to} GROUP BY step_id, variant`);
  const dailyRows = await db.all<SummedRow & { day: string }>(sql`SELECT day, ${COUNTER_SUMS}
    FROM stats_daily WHERE flow_id = ${flowId} AND day BETWEEN ${range.from} AND ${range.to} GROUP BY day`);
  const winners = new Map((await db.select().from(abWinners).where(eq(abWinners.flowId, flowId))).map((w) => [w.stepId, w]));

  const totals = zeroCounters();
  const byStep = new Map<string, { counters: Counters; variants: Map<string, Counters> }>();
  for (const row of rows) {
    const c = countersOf(row);
    addCounters(totals, c);
    if (row.step_id === "") continue;
    const entry = byStep.get(row.step_id) ?? { counters: zeroCounters(), variants: new Map() };
    addCounters(entry.counters, c);
    if (row.variant !== "") entry.variants.set(row.variant, addCounters(entry.variants.get(row.variant) ?? zeroCounters(), c));
    byStep.set(row.step_id, entry);
  }

  const defined = reportedSteps(flow.definition);
  // Steps removed from the definition still have numbers; they are listed after the current ones.
  const removed = [...byStep.keys()].filter((id) => !defined.some((s) => s.id === id)).map((id) => ({ id, type: "removed" }));
  const all: ReportedStep[] = [...defined, ...removed];
  const steps = all.map((step, index): StepStats => {
    const entry = byStep.get(step.id) ?? { counters: zeroCounters(), variants: new Map<string, Counters>() };
    const named = step.variants ? step.variants.map((v) => v.template ?? step.template) : [step.template];
    const templates = [...new Set(named.filter((t): t is string => t !== undefined))];
    const variantNames = [...new Set([...variantKeys(step), ...entry.variants.keys()])];
    const variants = variantNames.map((template) => ({ template, ...measured(entry.variants.get(template) ?? zeroCounters()) }));
    let ab: AbResult | null = null;
    if (step.type === "email" && variantNames.length > 1) {
      const comparison = compareVariants(
        step.winner?.metric ?? "click_rate",
        variantNames.map((template) => ({ template, counters: entry.variants.get(template) ?? zeroCounters() })),
      );
      const w = winners.get(step.id);
      ab = {
        ...comparison,
        winner: w ? { template: w.templateId, decided_at: new Date(w.decidedAt).toISOString(), p_value: w.pValue } : null,
      };
    }
    return {
      id: step.id,
      type: step.type,
      name: step.name ?? null,
      summary: step.summary ?? null,
      templates,
      next: index < defined.length ? labelledSuccessors(defined, index) : [],
      ...measured(entry.counters),
      variants,
      ab,
    };
  });

  return {
    flow: { id: flow.id, name: flow.name, status: flow.status },
    range,
    totals: measured(totals),
    steps,
    daily: fillDays(range, dailyRows),
  };
}

function fillDays(range: DayRange, rows: (SummedRow & { day: string })[]): z.infer<typeof Daily>[] {
  const byDay = new Map(rows.map((r) => [r.day, countersOf(r)]));
  return daysIn(range).map((day) => ({ day, ...(byDay.get(day) ?? zeroCounters()) }));
}

/** One flow's line in the overview. */
export const FlowPerformance = Measured.extend({ id: z.string(), name: z.string(), status: z.enum(FLOW_STATUSES) }).openapi(
  "FlowPerformance",
);
export type FlowPerformance = z.infer<typeof FlowPerformance>;

/** The overview across all flows (and emails outside flows) over a range. */
export const Overview = z
  .object({
    range: DayRange,
    totals: Measured,
    cost: z.number().openapi({ description: "MONTHLY_COST prorated over the range" }),
    roi: z.number().nullable().openapi({ description: "(revenue − cost) / cost; null when MONTHLY_COST is 0" }),
    daily: z.array(Daily),
    flows: z.array(FlowPerformance),
  })
  .openapi("StatsOverview");
export type Overview = z.infer<typeof Overview>;

/** The overview: totals, cost and ROI, a daily series, and each flow's numbers. */
export async function overviewStats(db: Database, range: DayRange, monthlyCost: number): Promise<Overview> {
  const dailyRows = await db.all<SummedRow & { day: string }>(sql`SELECT day, ${COUNTER_SUMS}
    FROM stats_daily WHERE day BETWEEN ${range.from} AND ${range.to} GROUP BY day`);
  const flowRows = await db.all<SummedRow & { flow_id: string }>(sql`SELECT flow_id, ${COUNTER_SUMS}
    FROM stats_daily WHERE day BETWEEN ${range.from} AND ${range.to} GROUP BY flow_id`);
  const allFlows = await db.select({ id: flows.id, name: flows.name, status: flows.status }).from(flows).orderBy(flows.name);
  const byFlow = new Map(flowRows.map((r) => [r.flow_id, countersOf(r)]));
  const totals = zeroCounters();
  for (const r of dailyRows) addCounters(totals, countersOf(r));
  const cost = costOver(monthlyCost, daysIn(range).length);
  return {
    range,
    totals: measured(totals),
    cost,
    roi: returnOnInvestment(totals.revenue, cost),
    daily: fillDays(range, dailyRows),
    flows: allFlows.map((f) => ({ ...f, ...measured(byFlow.get(f.id) ?? zeroCounters()) })),
  };
}

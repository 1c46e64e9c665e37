/**
 * Stats API: one flow's report and the overview, read from the rollups only.
 * Validation of the date range lives here; the numbers come from reports/stats.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { dayOfMs, FlowStats, flowStats, Overview, overviewStats } from "../reports/stats";
import { ApiError } from "./errors";
import { createRouter, jsonResponse } from "./router";
import { ErrorSchema } from "./shared-schemas";

/** The longest range a report covers, in days. */
export const MAX_RANGE_DAYS = 731;
/** The range when none is given: the last 30 days. */
export const DEFAULT_RANGE_DAYS = 30;
const DAY_MS = 86_400_000;

/** A real calendar day (2026-02-31 is not). */
const isCalendarDay = (v: string) => {
  const ms = Date.parse(`${v}T00:00:00Z`);
  return !Number.isNaN(ms) && dayOfMs(ms) === v;
};

/** A day as `YYYY-MM-DD`, or an ISO 8601 instant (its UTC day is used). */
const dayInput = z
  .string()
  .refine((v) => (/^\d{4}-\d{2}-\d{2}$/.test(v) ? isCalendarDay(v) : z.iso.datetime({ offset: true }).safeParse(v).success), {
    message: "Expected a day (YYYY-MM-DD) or an ISO 8601 date-time",
  })
  .transform((v) => dayOfMs(Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v)))
  .openapi({ example: "2026-11-01" });

export const RangeQuery = z.object({
  from: dayInput.optional().openapi({ description: "First UTC day (default: 29 days before `to`)" }),
  to: dayInput.optional().openapi({ description: "Last UTC day, inclusive (default: today)" }),
});

/** Resolves a query's range: defaults, order and length checked. */
export function resolveRange(query: { from?: string; to?: string }, now: number): { from: string; to: string } {
  const to = query.to ?? dayOfMs(now);
  const from = query.from ?? dayOfMs(Date.parse(`${to}T00:00:00Z`) - (DEFAULT_RANGE_DAYS - 1) * DAY_MS);
  const days = (Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;
  if (days < 1) throw new ApiError(422, "invalid_range", "`from` must not be after `to`");
  if (days > MAX_RANGE_DAYS) throw new ApiError(422, "invalid_range", `A report covers at most ${MAX_RANGE_DAYS} days`);
  return { from, to };
}

const flowStatsRoute = createRoute({
  method: "get",
  path: "/v1/flows/{id}/stats",
  tags: ["stats"],
  summary: "A flow's numbers per step and per variant, with rates and A/B results",
  security: [{ adminKey: [] }],
  request: { params: z.object({ id: z.string().min(1).max(200) }), query: RangeQuery },
  responses: {
    200: jsonResponse(FlowStats, "The flow's report"),
    404: jsonResponse(ErrorSchema, "No such flow"),
    422: jsonResponse(ErrorSchema, "Invalid range"),
  },
});

const overviewRoute = createRoute({
  method: "get",
  path: "/v1/stats/overview",
  tags: ["stats"],
  summary: "Totals, ROI, a daily series and each flow's numbers",
  security: [{ adminKey: [] }],
  request: { query: RangeQuery },
  responses: { 200: jsonResponse(Overview, "The overview"), 422: jsonResponse(ErrorSchema, "Invalid range") },
});

export const statsRoutes = createRouter()
  .openapi(flowStatsRoute, async (c) => {
    const range = resolveRange(c.req.valid("query"), Date.now());
    const stats = await flowStats(c.var.db, c.req.valid("param").id, range);
    if (!stats) throw new ApiError(404, "not_found", "No flow with that id");
    return c.json(stats, 200);
  })
  .openapi(overviewRoute, async (c) => {
    const range = resolveRange(c.req.valid("query"), Date.now());
    return c.json(await overviewStats(c.var.db, range, c.var.config.MONTHLY_COST), 200);
  });

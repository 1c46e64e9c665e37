/**
 * Reading stored flow definitions (SPEC section 4) for reports: the step ids,
 * types, templates, variants, winner rules and links, parsed leniently so a
 * report never fails on a definition written by a newer or older engine.
 */
import { z } from "@hono/zod-openapi";
import { variantKey } from "../flows/interpreter";

/** The metrics an A/B `winner` rule may pick on. */
export const WINNER_METRICS = ["open_rate", "click_rate", "conversion_rate"] as const;
export type WinnerMetric = (typeof WINNER_METRICS)[number];

/** The parts of a flow definition reports read; anything else in it is ignored. */
export const ReportedStep = z.object({
  id: z.string(),
  type: z.string(),
  name: z.string().optional(),
  template: z.string().optional(),
  variants: z
    .array(z.object({ template: z.string().optional(), subject: z.string().optional(), weight: z.number().optional() }))
    .optional(),
  winner: z.object({ metric: z.enum(WINNER_METRICS), after: z.string(), require_significance: z.boolean().optional() }).optional(),
  next: z.string().optional(),
  paths: z.array(z.object({ weight: z.number().positive(), next: z.string() })).optional(),
  then: z.string().optional(),
  else: z.string().optional(),
});
export type ReportedStep = z.infer<typeof ReportedStep> & { summary?: string | null };
export const ReportedFlow = z.object({ name: z.string().optional(), steps: z.array(z.looseObject({ id: z.string(), type: z.string() })) });

/** The names a step's variants carry in messages and stats (see variantKey in flows/interpreter), in their order. */
export function variantKeys(step: Pick<ReportedStep, "template" | "variants">): string[] {
  return (step.variants ?? []).map((_, i) => variantKey(step, i));
}

/** The steps of a stored definition, each parsed leniently (a step reports cannot read is shown by id and type). */
export function reportedSteps(definition: unknown): ReportedStep[] {
  const flow = ReportedFlow.safeParse(definition);
  if (!flow.success) return [];
  return flow.data.steps.map((raw) => {
    const step = ReportedStep.safeParse(raw);
    const summary = stepSummary(raw);
    return step.success ? { ...step.data, summary } : { id: raw.id, type: raw.type, summary };
  });
}

const truncate = (text: string, max = 60) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** One line saying what a non-email step does, for the diagram ("for 2d", "email_opened within 3d"). */
export function stepSummary(raw: Record<string, unknown>): string | null {
  const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  switch (raw.type) {
    case "wait":
      if (raw.for) return `for ${text(raw.for)}`;
      if (raw.until) return `until ${text((raw.until as { time?: unknown }).time ?? raw.until)}`;
      if (raw.until_attribute) return `until ${text((raw.until_attribute as { attribute?: unknown }).attribute ?? raw.until_attribute)}`;
      if (raw.for_property) {
        const { property, unit, offset } = raw.for_property as { property?: unknown; unit?: unknown; offset?: unknown };
        return `for ${text(property)} (${text(unit)})${offset ? ` ${text(offset)}` : ""}`;
      }
      return null;
    case "wait_for":
      return `${text(raw.event)}${raw.timeout ? ` within ${text(raw.timeout)}` : ""}`;
    case "branch":
      return truncate(`if ${text(raw.if)}`);
    case "split":
      return `${Array.isArray(raw.paths) ? raw.paths.length : 0} paths`;
    case "notify":
      return truncate(`notify ${text(raw.to ?? "")}`);
    case "webhook":
      return truncate(`POST ${text(raw.url ?? "")}`);
    case "update":
      return "update the contact";
    default:
      return null;
  }
}

/**
 * The flow language of SPEC sections 4 and 5 as zod schemas: the one source of
 * the flow types, of request validation and of the OpenAPI document. Shape only;
 * the rules that need the whole graph (references, reachability, loops) live in
 * validate.ts.
 */
import { z } from "@hono/zod-openapi";
import { DURATION_PATTERN, DURATION_UNITS, OFFSET_PATTERN } from "./duration";
import { isValidTimeZone, WEEKDAYS } from "./schedule";

export const Duration = z
  .string()
  .regex(DURATION_PATTERN, "Expected a duration such as 30m, 1h, 2d or 1w")
  .openapi({ example: "2d", description: "A whole number and a unit: s, m, h, d or w" });
export const Offset = z
  .string()
  .regex(OFFSET_PATTERN, "Expected an offset such as -30d, 2h or 0d")
  .openapi({ example: "-30d", description: "A signed duration" });
export const TimeOfDay = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, "Expected a time of day HH:MM")
  .openapi({ example: "09:00" });
/** An IANA time zone name this runtime's Intl knows: the one definition every entry (API, snippet, flows) uses. */
export const TimeZone = z
  .string()
  .max(100)
  .refine(isValidTimeZone, { message: "Unknown IANA time zone" })
  .openapi({ example: "Europe/Paris" });

/**
 * Bounds on free-form JSON (event properties, traits, attributes, a flow's `set` and webhook body). SQLite's JSON
 * functions refuse nesting past 1,000 levels, and one such value stored in `contacts.attributes` would break every
 * query reading attributes across contacts; D1 rows stop at 2 MB. These bounds keep every stored value far inside both.
 */
export const JSON_LIMITS = {
  /** Nesting depth, the object itself being level 1. */
  maxDepth: 32,
  /** Size of the value as JSON, in UTF-8 bytes. */
  maxBytes: 32 * 1024,
  maxKeyLength: 100,
  maxKeysPerObject: 200,
  maxStringLength: 10_000,
} as const;

/** At most this many problems are reported for one value, so a hostile body cannot make a huge error. */
const MAX_REPORTED_PROBLEMS = 20;

/** What is wrong with a JSON value against JSON_LIMITS, each with its path; empty when it fits. */
export function jsonBoundsProblems(value: unknown): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  // Iterative walk: a hostile value may be nested deeper than the call stack allows.
  const pending: { value: unknown; path: (string | number)[]; depth: number }[] = [{ value, path: [], depth: 1 }];
  for (let item = pending.pop(); item && problems.length < MAX_REPORTED_PROBLEMS; item = pending.pop()) {
    const { value: v, path, depth } = item;
    if (typeof v === "string") {
      if (v.length > JSON_LIMITS.maxStringLength)
        problems.push({ path, message: `Strings are at most ${JSON_LIMITS.maxStringLength} characters` });
      continue;
    }
    if (typeof v === "number") {
      if (!Number.isFinite(v)) problems.push({ path, message: "Numbers must be finite" });
      continue;
    }
    if (v === null || typeof v !== "object") continue;
    if (depth > JSON_LIMITS.maxDepth) {
      problems.push({ path, message: `Values are nested at most ${JSON_LIMITS.maxDepth} levels deep` });
      continue;
    }
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    if (!Array.isArray(v) && entries.length > JSON_LIMITS.maxKeysPerObject)
      problems.push({ path, message: `Objects have at most ${JSON_LIMITS.maxKeysPerObject} keys` });
    for (const [key, child] of entries) {
      if (typeof key === "string" && (key.length === 0 || key.length > JSON_LIMITS.maxKeyLength))
        problems.push({
          path: [...path, key.slice(0, JSON_LIMITS.maxKeyLength)],
          message: `Keys are 1-${JSON_LIMITS.maxKeyLength} characters`,
        });
      pending.push({ value: child, path: [...path, key], depth: depth + 1 });
    }
  }
  if (problems.length === 0) {
    const bytes = new TextEncoder().encode(JSON.stringify(value) ?? "").length;
    if (bytes > JSON_LIMITS.maxBytes) problems.push({ path: [], message: `At most ${JSON_LIMITS.maxBytes} bytes as JSON (got ${bytes})` });
  }
  return problems;
}

function refineJsonBounds(value: unknown, ctx: z.RefinementCtx): void {
  for (const problem of jsonBoundsProblems(value)) ctx.addIssue({ code: "custom", path: problem.path, message: problem.message });
}
const JSON_LIMITS_TEXT = `at most ${JSON_LIMITS.maxDepth} levels deep and ${JSON_LIMITS.maxBytes} bytes, keys of 1-${JSON_LIMITS.maxKeyLength} characters, at most ${JSON_LIMITS.maxKeysPerObject} keys per object, strings of at most ${JSON_LIMITS.maxStringLength} characters`;

/** A JSON object within JSON_LIMITS: the type of every free-form record that reaches storage. */
export const JsonObject = z
  .record(z.string(), z.unknown())
  .superRefine(refineJsonBounds)
  .openapi({ description: `A JSON object: ${JSON_LIMITS_TEXT}` });

/** Any JSON value within JSON_LIMITS (a condition's comparison value). */
export const JsonValue = z
  .unknown()
  .superRefine(refineJsonBounds)
  .openapi({ description: `Any JSON value: ${JSON_LIMITS_TEXT}` });
export const Weekday = z.enum(WEEKDAYS);

const Name = z.string().min(1).max(100);
const StepId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "Step ids are 1-64 letters, digits, '-' or '_'")
  .openapi({ example: "hello" });
const TemplateId = z.string().min(1).max(100);

export const ConditionOp = z.enum(["eq", "ne", "in", "nin", "gt", "gte", "lt", "lte", "contains", "exists", "before", "after"]);
export const CountOp = z.enum(["eq", "ne", "gt", "gte", "lt", "lte"]);

const AttrCondition = z.object({ attr: Name, op: ConditionOp, value: JsonValue.optional() }).strict().openapi({
  description: "A contact attribute (system or custom); before/after take a date, epoch ms, or a duration meaning that long ago",
});
const PropCondition = z.object({ prop: Name, op: ConditionOp, value: JsonValue.optional() }).strict().openapi({
  description: "A property of the triggering event; dotted paths reach into objects and arrays (items.0.sku)",
});
const TagCondition = z.object({ tag: Name }).strict();

/**
 * Most comparisons (attribute, property, tag and behaviour conditions) one condition may hold. It compiles to one
 * SQL statement, which D1 caps at 100 KB; a comparison takes at most about 370 bytes of it
 * (test/http/condition-size.test.ts measures the largest of each kind).
 */
export const MAX_CONDITION_PARTS = 100;

/** How many comparisons a condition holds, through all, any, not and behavioural `where`. */
export function conditionParts(condition: unknown): number {
  // Typed loosely: the schema below checks its own output with it, before `Condition` exists as a type.
  const c = condition as { all?: unknown[]; any?: unknown[]; not?: unknown; event?: string; where?: unknown };
  if (c.all) return c.all.reduce<number>((n, part) => n + conditionParts(part), 0);
  if (c.any) return c.any.reduce<number>((n, part) => n + conditionParts(part), 0);
  if (c.not) return conditionParts(c.not);
  if (c.event !== undefined) return 1 + (c.where ? conditionParts(c.where) : 0);
  return 1;
}

/** One condition of SPEC section 5; recursive through all, any, not and behavioural `where`. */
export const Condition = z
  .union([
    z
      .object({
        get all() {
          return z.array(Condition).min(1).max(50);
        },
      })
      .strict(),
    z
      .object({
        get any() {
          return z.array(Condition).min(1).max(50);
        },
      })
      .strict(),
    z
      .object({
        get not() {
          return Condition;
        },
      })
      .strict(),
    AttrCondition,
    TagCondition,
    PropCondition,
    z
      .object({
        event: Name,
        within: Duration.optional(),
        count: z
          .object({ op: CountOp, value: z.number().int().min(0) })
          .strict()
          .optional(),
        get where() {
          return Condition.optional();
        },
      })
      .strict()
      .openapi({ description: "Behaviour: how often the contact did an event (default: at least once)" }),
  ])
  .openapi("Condition");
export type Condition = z.infer<typeof Condition>;

/** How deep all/any/not groups may nest: D1 refuses an expression tree deeper than 100, and each group adds several levels. */
export const MAX_CONDITION_NESTING = 8;

/** How deeply groups nest in a condition, and whether a behaviour's `where` holds another behaviour (D1 cannot compile it). */
function conditionShape(condition: unknown, insideBehaviour = false): { nesting: number; behaviourInBehaviour: boolean } {
  const c = condition as { all?: unknown[]; any?: unknown[]; not?: unknown; event?: string; where?: unknown };
  const parts = c.all ?? c.any ?? (c.not !== undefined ? [c.not] : null);
  if (parts) {
    const inner = parts.map((part) => conditionShape(part, insideBehaviour));
    return {
      nesting: 1 + Math.max(0, ...inner.map((i) => i.nesting)),
      behaviourInBehaviour: inner.some((i) => i.behaviourInBehaviour),
    };
  }
  if (c.event !== undefined) {
    if (insideBehaviour) return { nesting: 0, behaviourInBehaviour: true };
    return c.where ? conditionShape(c.where, true) : { nesting: 0, behaviourInBehaviour: false };
  }
  return { nesting: 0, behaviourInBehaviour: false };
}

/**
 * A whole condition, as a trigger, branch, wait, exit or segment holds it: at most MAX_CONDITION_PARTS comparisons,
 * groups nested at most MAX_CONDITION_NESTING deep, and no behaviour inside a behaviour's `where`, so that its SQL
 * always fits one D1 statement.
 */
export const BoundedCondition = Condition.refine((c) => conditionParts(c) <= MAX_CONDITION_PARTS, {
  message: `A condition may hold at most ${MAX_CONDITION_PARTS} comparisons`,
})
  .refine((c) => conditionShape(c).nesting <= MAX_CONDITION_NESTING, {
    message: `all, any and not may nest at most ${MAX_CONDITION_NESTING} deep`,
  })
  .refine((c) => !conditionShape(c).behaviourInBehaviour, {
    message: "A behaviour's where may compare the event's properties and the contact, not count other events",
  })
  // A component of its own: a refined schema would otherwise carry the name "Condition" as a second schema.
  .openapi("BoundedCondition", {
    description: `A Condition of at most ${MAX_CONDITION_PARTS} comparisons, groups nested at most ${MAX_CONDITION_NESTING} deep, and no behaviour inside a behaviour's where`,
  });
export type BehaviourCondition = Extract<Condition, { event: string }>;

/** An event matcher, used by event triggers, exits and goals. */
const EventMatch = z.object({ event: Name, where: BoundedCondition.optional() }).strict();

/** Most event names one trigger may list. */
export const MAX_TRIGGER_EVENTS = 20;

/** An event trigger: one event name, or a list of which any one starts the flow. */
const EventTrigger = z
  .object({
    event: z.union([
      Name,
      z
        .array(Name)
        .min(1)
        .max(MAX_TRIGGER_EVENTS)
        .refine((names) => new Set(names).size === names.length, { message: "Each event is listed once" }),
    ]),
    where: BoundedCondition.optional(),
  })
  .strict()
  .openapi({
    description: `One event name, or a list of at most ${MAX_TRIGGER_EVENTS} of which any one starts the flow`,
    example: { event: ["checkout_started", "added_to_cart"] },
  });

export const Trigger = z
  .union([
    EventTrigger,
    z.object({ segment_entered: Name }).strict(),
    z.object({ attribute_changed: Name, where: BoundedCondition.optional() }).strict(),
    z
      .object({
        date: z
          .object({
            attribute: Name,
            offset: Offset.optional(),
            at: TimeOfDay.optional(),
            repeat: z.enum(["once", "yearly"]).optional().openapi({ description: "yearly for birthdays and anniversaries" }),
          })
          .strict(),
      })
      .strict(),
    z.object({ inactive_for: Duration }).strict(),
  ])
  .openapi("FlowTrigger");
export type Trigger = z.infer<typeof Trigger>;

const base = { id: StepId, name: z.string().max(200).optional() };
const next = { next: StepId.optional() };

const EmailStep = z
  .object({
    ...base,
    ...next,
    type: z.literal("email"),
    template: TemplateId.optional(),
    variants: z
      .array(
        z
          .object({
            template: TemplateId.optional().openapi({ description: "Default: the step's template" }),
            subject: z.string().min(1).max(998).optional().openapi({
              description: "Replaces the template's subject (Liquid): a subject-line test on one template",
            }),
            weight: z.number().positive().max(1000),
          })
          .strict()
          .refine((v) => v.template !== undefined || v.subject !== undefined, {
            message: "A variant names a template, a subject, or both",
          }),
      )
      .min(2)
      .max(10)
      .optional(),
    winner: z
      .object({
        metric: z.enum(["open_rate", "click_rate", "conversion_rate"]),
        after: Duration,
        require_significance: z.boolean().optional().openapi({ description: "Default true: only a result significant at 95% wins" }),
      })
      .strict()
      .optional(),
  })
  .strict()
  .refine((s) => s.template !== undefined || s.variants !== undefined, { message: "An email step needs a template or variants" })
  .refine((s) => s.template !== undefined || (s.variants ?? []).every((v) => v.template !== undefined), {
    message: "A variant that only overrides the subject needs the step's template",
    path: ["variants"],
  });

const WaitStep = z
  .object({
    ...base,
    ...next,
    type: z.literal("wait"),
    for: Duration.optional(),
    until: z
      .object({ time: TimeOfDay, weekdays: z.array(Weekday).min(1).max(7).optional() })
      .strict()
      .optional(),
    until_attribute: z.object({ attribute: Name, offset: Offset.optional(), at: TimeOfDay.optional() }).strict().optional(),
    for_property: z
      .object({ property: Name, unit: z.enum(DURATION_UNITS), offset: Offset.optional() })
      .strict()
      .optional()
      .openapi({
        description:
          "Waits as many units as the number in this property of the triggering event (dotted paths reach inside), plus the offset: replenish_days in d with offset -7d. A missing or non-numeric value skips the wait",
        example: { property: "replenish_days", unit: "d", offset: "-7d" },
      }),
  })
  .strict()
  .refine((s) => [s.for, s.until, s.until_attribute, s.for_property].filter((x) => x !== undefined).length === 1, {
    message: "A wait step needs exactly one of for, until, until_attribute, for_property",
  });

const WaitForStep = z
  .object({
    ...base,
    type: z.literal("wait_for"),
    event: Name,
    of: StepId.optional().openapi({ description: "Only events about the email sent by this step (e.g. its open)" }),
    where: BoundedCondition.optional(),
    timeout: Duration,
    then: StepId.optional(),
    else: StepId.optional(),
  })
  .strict();

const BranchStep = z
  .object({ ...base, type: z.literal("branch"), if: BoundedCondition, then: StepId.optional(), else: StepId.optional() })
  .strict();

const SplitStep = z
  .object({
    ...base,
    type: z.literal("split"),
    paths: z
      .array(z.object({ weight: z.number().positive().max(1000), next: StepId }).strict())
      .min(2)
      .max(10),
  })
  .strict();

const UpdateStep = z
  .object({
    ...base,
    ...next,
    type: z.literal("update"),
    set: JsonObject.optional().openapi({ description: "Attributes to merge; null removes one" }),
    increment: z
      .record(Name, z.number().finite().min(-1e9).max(1e9))
      .refine((r) => Object.keys(r).length >= 1 && Object.keys(r).length <= 50, {
        message: "increment names 1-50 attributes",
      })
      .optional()
      .openapi({
        description:
          "Numbers to add to numeric attributes (negative subtracts); a missing or non-numeric attribute counts as 0. Applied after set",
        example: { lead_score: 10 },
      }),
    lifecycle_stage: z.string().min(1).max(50).optional(),
    add_tags: z.array(Name).max(50).optional(),
    remove_tags: z.array(Name).max(50).optional(),
  })
  .strict();

const NotifyStep = z
  .object({
    ...base,
    ...next,
    type: z.literal("notify"),
    to: z.email().optional(),
    to_attribute: Name.optional().openapi({ description: "A contact attribute holding the address, e.g. owner_email" }),
    template: TemplateId,
  })
  .strict()
  .refine((s) => (s.to === undefined) !== (s.to_attribute === undefined), {
    message: "A notify step needs exactly one of to, to_attribute",
  });

const WebhookStep = z
  .object({
    ...base,
    ...next,
    type: z.literal("webhook"),
    url: z.url({ protocol: /^https?$/ }).openapi({
      description: "https to a public host name: IP addresses, localhost and local names are refused; redirects are not followed",
    }),
    body: JsonObject.optional(),
  })
  .strict();

const ExitStep = z.object({ ...base, type: z.literal("exit") }).strict();

export const Step = z
  .discriminatedUnion("type", [EmailStep, WaitStep, WaitForStep, BranchStep, SplitStep, UpdateStep, NotifyStep, WebhookStep, ExitStep])
  .openapi("FlowStep");
export type Step = z.infer<typeof Step>;
export type StepOf<T extends Step["type"]> = Extract<Step, { type: T }>;

export const Reentry = z.union([z.enum(["never", "after_exit"]), z.object({ cooldown: Duration }).strict()]);

export const FlowSettings = z
  .object({
    quiet_hours: z.object({ start: TimeOfDay, end: TimeOfDay }).strict().optional(),
    timezone: TimeZone.optional().openapi({ description: "Used when the contact has no time zone (default UTC)" }),
    frequency_cap: z
      .object({ max: z.number().int().min(1).max(1000), per: Duration, on_cap: z.enum(["wait", "skip"]).optional() })
      .strict()
      .optional(),
    transactional: z.boolean().optional(),
  })
  .strict();

/** A flow definition, as `PUT /v1/flows/:id` takes it. */
export const Flow = z
  .object({
    id: StepId.optional().openapi({ description: "Taken from the URL when absent; must match it when present" }),
    name: z.string().min(1).max(200),
    description: z.string().max(2000).optional(),
    trigger: Trigger,
    reentry: Reentry.optional(),
    exit_when: z.array(EventMatch).max(20).optional(),
    goal: z.object({ event: Name, where: BoundedCondition.optional(), within: Duration.optional() }).strict().optional(),
    settings: FlowSettings.optional(),
    steps: z.array(Step).min(1).max(200),
  })
  .strict()
  .openapi("Flow");
export type Flow = z.infer<typeof Flow>;

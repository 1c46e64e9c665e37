/**
 * What changed between two versions of a flow: steps added, removed or
 * changed (by id), whether the common steps changed order, and which rules
 * (trigger, re-entry, exits, goal, each setting, name) differ. Pure; the
 * version list and the edit-impact check describe a change with it.
 */
import { z } from "@hono/zod-openapi";
import type { Flow } from "./schema";

/** The difference between two definitions of one flow. */
export const FlowChanges = z
  .object({
    steps_added: z.array(z.string()),
    steps_removed: z.array(z.string()),
    steps_changed: z.array(z.string()),
    steps_reordered: z.boolean().openapi({ description: "The steps both versions have run in a different array order" }),
    rules_changed: z.array(z.string()).openapi({ example: ["trigger", "settings.quiet_hours"] }),
  })
  .openapi("FlowChanges");
export type FlowChanges = z.infer<typeof FlowChanges>;

/** JSON with object keys sorted, so that two equal values always compare equal as text. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

const same = (a: unknown, b: unknown) => canonical(a) === canonical(b);

/** The rules compared one by one; settings are compared per key, so "quiet hours changed" reads as such. */
const RULES = ["name", "description", "trigger", "reentry", "exit_when", "goal"] as const;

/** How `after` differs from `before`. */
export function flowChanges(before: Flow, after: Flow): FlowChanges {
  // A definition stored by hand or under an older schema may lack steps; it is read as having none.
  before = { ...before, steps: Array.isArray(before.steps) ? before.steps : [] };
  after = { ...after, steps: Array.isArray(after.steps) ? after.steps : [] };
  const beforeSteps = new Map(before.steps.map((s) => [s.id, s]));
  const afterIds = new Set(after.steps.map((s) => s.id));
  const common = after.steps.filter((s) => beforeSteps.has(s.id)).map((s) => s.id);
  const settingKeys = [...new Set([...Object.keys(before.settings ?? {}), ...Object.keys(after.settings ?? {})])].sort();
  const beforeSettings = (before.settings ?? {}) as Record<string, unknown>;
  const afterSettings = (after.settings ?? {}) as Record<string, unknown>;
  return {
    steps_added: after.steps.filter((s) => !beforeSteps.has(s.id)).map((s) => s.id),
    steps_removed: before.steps.filter((s) => !afterIds.has(s.id)).map((s) => s.id),
    steps_changed: after.steps.filter((s) => beforeSteps.has(s.id) && !same(beforeSteps.get(s.id), s)).map((s) => s.id),
    steps_reordered: !same(
      common,
      before.steps.filter((s) => afterIds.has(s.id)).map((s) => s.id),
    ),
    rules_changed: [
      ...RULES.filter((rule) => !same(before[rule], after[rule])),
      ...settingKeys.filter((key) => !same(beforeSettings[key], afterSettings[key])).map((key) => `settings.${key}`),
    ],
  };
}

/** True when nothing differs. */
export function unchanged(changes: FlowChanges): boolean {
  return (
    changes.steps_added.length === 0 &&
    changes.steps_removed.length === 0 &&
    changes.steps_changed.length === 0 &&
    !changes.steps_reordered &&
    changes.rules_changed.length === 0
  );
}

const listed = (verb: string, ids: string[]) =>
  ids.length === 0 ? [] : [`${verb} ${ids.length === 1 ? "step" : "steps"} ${ids.join(", ")}`];

/** One line for people: "added step nudge; removed step cta; changed trigger, settings.quiet_hours". */
export function describeChanges(changes: FlowChanges): string {
  if (unchanged(changes)) return "no change";
  return [
    ...listed("added", changes.steps_added),
    ...listed("removed", changes.steps_removed),
    ...listed("changed", changes.steps_changed),
    ...(changes.steps_reordered ? ["reordered steps"] : []),
    ...(changes.rules_changed.length > 0 ? [`changed ${changes.rules_changed.join(", ")}`] : []),
  ].join("; ");
}

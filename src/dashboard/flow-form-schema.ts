/**
 * The flow schema as the editor's forms read it: zod's Flow as JSON Schema, with every
 * condition (recursive in zod) reduced to a marker the client draws with its condition
 * builder. Built once per isolate; the editor's fields follow whatever the schema holds.
 */
import { z } from "@hono/zod-openapi";
import { BoundedCondition, Condition, Flow } from "../flows/schema";

let cached: Record<string, unknown> | undefined;

/** The Flow schema as JSON Schema for the editor island, conditions marked `x-widget: condition`. */
export function flowFormSchema(): Record<string, unknown> {
  cached ??= z.toJSONSchema(Flow, {
    io: "input",
    unrepresentable: "any",
    override: (ctx) => {
      if (ctx.zodSchema !== Condition && ctx.zodSchema !== BoundedCondition) return;
      const marked = ctx.jsonSchema as Record<string, unknown>;
      for (const k of Object.keys(marked)) delete marked[k];
      marked["x-widget"] = "condition";
    },
  }) as Record<string, unknown>;
  return cached;
}

import { getRefId } from "@asteasolutions/zod-to-openapi";
import { describe, expect, it } from "vitest";
import type { z } from "zod";
import { createApp } from "../../src/app";

/** Every zod schema reachable from a schema, through objects, arrays, unions, wrappers, pipes and records. */
function* reachable(schema: z.ZodType, seen = new Set<unknown>()): Generator<z.ZodType> {
  if (seen.has(schema)) return;
  seen.add(schema);
  yield schema;
  const def = (schema as unknown as { _zod: { def: Record<string, unknown> } })._zod.def;
  const children: unknown[] = [];
  if (def.shape) children.push(...Object.values(def.shape as Record<string, unknown>));
  for (const key of ["element", "innerType", "in", "out", "left", "right", "keyType", "valueType", "catchall"]) children.push(def[key]);
  if (Array.isArray(def.options)) children.push(...def.options);
  if (Array.isArray(def.items)) children.push(...def.items);
  if (typeof def.getter === "function") children.push((def.getter as () => unknown)());
  for (const child of children) if (child && typeof child === "object" && "_zod" in child) yield* reachable(child as z.ZodType, seen);
}

const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "readonly", "nonoptional", "pipe"]);
const typeName = (schema: z.ZodType) => (schema as unknown as { _zod: { def: { type: string } } })._zod.def.type;

/** The zod schemas a registry definition names: a component, or a route's params, bodies and responses. */
function definitionSchemas(definition: any): z.ZodType[] {
  if (definition.type === "schema") return [definition.schema];
  if (definition.type !== "route") return [];
  const { request, responses } = definition.route;
  const found: unknown[] = [request?.params, request?.query, request?.headers];
  for (const body of [request?.body, ...Object.values(responses ?? {})]) {
    for (const media of Object.values((body as any)?.content ?? {})) found.push((media as any).schema);
  }
  return found.filter((s): s is z.ZodType => !!s && typeof s === "object" && "_zod" in s);
}

describe("the OpenAPI document", () => {
  it("names every component once: two different schemas never share a component name", () => {
    const app = createApp();
    const byName = new Map<string, Set<z.ZodType>>();
    const seen = new Set<unknown>();
    for (const definition of app.openAPIRegistry.definitions) {
      for (const root of definitionSchemas(definition)) {
        for (const schema of reachable(root, seen)) {
          // Wrappers (optional, nullable, default, pipe) report their inner schema's name: count the inner one only.
          if (WRAPPERS.has(typeName(schema))) continue;
          const name = getRefId(schema as never);
          if (!name) continue;
          const same = byName.get(name) ?? new Set();
          same.add(schema);
          byName.set(name, same);
        }
      }
    }
    expect(byName.size).toBeGreaterThan(10);
    const shared = [...byName]
      .filter(([, schemas]) => schemas.size > 1)
      .map(([name, schemas]) => `${name}: ${[...schemas].map(typeName).join(", ")}`);
    expect(shared).toEqual([]);
  });
});

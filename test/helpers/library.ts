/** Library flows for engine runs: the real definitions with their waits shortened to seconds. */
import { expect } from "vitest";
import type { Flow } from "../../src/flows/schema";
import { libraryEntry } from "../../src/library/catalog";
import { callJson } from "./api";
import { activeFlow } from "./flows";

export type Definition = { id: string; steps: unknown[] } & Record<string, unknown>;

/**
 * The library flow under a test id (`<name>-run`), with every wait and timeout shortened to one second; a wait
 * read from an event property counts seconds instead of its unit (`replenish_days: 10` with offset -7d waits 3s).
 */
export function shortened(name: string): Definition {
  const flow = libraryEntry(name)?.flow as Flow;
  const steps = flow.steps.map((s) => {
    if (s.type === "wait" && s.for) return { ...s, for: "1s" };
    if (s.type === "wait" && s.for_property) {
      const offset = s.for_property.offset?.replace(/[mhdw]$/, "s");
      return { ...s, for_property: { ...s.for_property, unit: "s", ...(offset ? { offset } : {}) } };
    }
    if (s.type === "wait_for") return { ...s, timeout: "1s" };
    return s;
  });
  return { ...flow, id: `${name}-run`, steps };
}

/** Installs a library entry (its real templates) and activates `definition` (usually `shortened(name)`) on them. */
export async function activeLibraryFlow(name: string, definition: Definition = shortened(name)): Promise<void> {
  const installed = await callJson(`/v1/library/${name}/install`, { method: "POST" });
  expect(installed.status).toBe(200);
  await activeFlow(definition);
}

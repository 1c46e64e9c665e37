/**
 * Where each step of a flow leads: its explicit `next`/`then`/`else`/split paths, or the
 * step after it in the array. Kept apart from validate.ts (which needs zod) so that the
 * dashboard's flow editor draws its graph with the very rule the interpreter follows,
 * without shipping zod to the browser.
 */
import type { Flow } from "./schema";

/** The steps a step may lead to, each with the field that names it (`null` for array order). */
export function successors(flow: Flow, index: number): { field: (string | number)[]; target: string | undefined }[] {
  const step = flow.steps[index];
  if (!step) return [];
  const following = flow.steps[index + 1]?.id;
  switch (step.type) {
    case "exit":
      return [];
    case "split":
      return step.paths.map((p, i) => ({ field: ["paths", i, "next"], target: p.next }));
    case "branch":
    case "wait_for":
      return [
        { field: ["then"], target: step.then ?? following },
        { field: ["else"], target: step.else ?? following },
      ];
    default:
      return [{ field: ["next"], target: step.next ?? following }];
  }
}

/**
 * Where each step of a flow leads: its explicit `next`/`then`/`else`/split paths, or the
 * step after it in the array. The one module that knows a step's outgoing edges: the
 * interpreter follows them, validation checks them, reports and the dashboard's flow
 * editor draw them. Kept apart from validate.ts (which needs zod) so that the editor
 * draws its graph with the very rule the interpreter follows, without shipping zod to
 * the browser.
 */

/**
 * The fields of a step that name where it leads. Structural, so that reports can pass the leniently read
 * steps of a stored definition (any type string, split paths possibly missing) as well as a parsed Flow's.
 */
export interface GraphStep {
  id: string;
  type: string;
  next?: string;
  then?: string;
  else?: string;
  paths?: readonly { next: string }[];
}

/** One outgoing edge: the field that names it, and the step it leads to (undefined: past the last step, the flow ends). */
export interface Successor {
  field: (string | number)[];
  target: string | undefined;
}

/** The steps a step may lead to, each with the field that names it. */
export function successors(flow: { steps: readonly GraphStep[] }, index: number): Successor[] {
  const steps = flow.steps;
  const step = steps[index];
  if (!step) return [];
  const following = steps[index + 1]?.id;
  switch (step.type) {
    case "exit":
      return [];
    case "split":
      return (step.paths ?? []).map((p, i) => ({ field: ["paths", i, "next"], target: p.next }));
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

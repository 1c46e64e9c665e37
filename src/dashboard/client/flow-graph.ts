/**
 * The flow editor's graph model, pure (no DOM): the edges a definition draws (read with
 * the interpreter's own `successors`), the structural edits the canvas offers (insert on
 * an edge, delete, re-point, split paths) and the layout. The editor's state IS the
 * definition: a load followed by a save sends it back untouched, and an edit rewrites
 * only the fields whose meaning would otherwise change. Every edit keeps the graph
 * well-formed: steps it cuts off are removed (and named), an end the array order cannot
 * express becomes an `exit` step, and no edit creates a loop.
 */
import dagre from "@dagrejs/dagre";
import type { Flow, Step } from "../../flows/schema";
import { successors } from "../../flows/successors";

/** A definition as the editor holds it: the flow, possibly still without steps. */
export type Draft = Omit<Flow, "steps"> & { steps: Step[] };
export type StepType = Step["type"];
/** Where an edge goes: a step id, or null when the flow ends there. */
export type Target = string | null;
/** The trigger, as the source of the first edge. */
export const TRIGGER = "trigger";

/** Every step type of SPEC section 4, in the order the "+" menu offers them. */
export const STEP_TYPES: readonly StepType[] = ["email", "wait", "wait_for", "branch", "split", "update", "notify", "webhook", "exit"];

/** One drawn edge: from the trigger or a step, through one of its fields, to a step or the end. */
export interface Edge {
  from: string;
  field: (string | number)[];
  target: Target;
  label: string;
}

const key = (field: (string | number)[]) => field.join(".");

function outFields(steps: Step[], index: number) {
  return successors({ steps }, index);
}

function edgeLabel(step: Step, field: (string | number)[]): string {
  if (step.type === "wait_for") return field[0] === "then" ? "event" : "timeout";
  if (step.type === "branch") return field[0] === "then" ? "yes" : "no";
  if (step.type === "split") {
    const path = step.paths[field[1] as number];
    const total = step.paths.reduce((sum, p) => sum + p.weight, 0);
    return path ? `${Math.round((path.weight / total) * 100)}%` : "";
  }
  return "";
}

/** The edges of a draft: trigger → first step, then each step's successors in the interpreter's rule. */
export function edgesOf(draft: Draft): Edge[] {
  const edges: Edge[] = [{ from: TRIGGER, field: [], target: draft.steps[0]?.id ?? null, label: "" }];
  draft.steps.forEach((step, i) => {
    for (const { field, target } of outFields(draft.steps, i)) {
      edges.push({ from: step.id, field, target: target ?? null, label: edgeLabel(step, field) });
    }
  });
  return edges;
}

/** Where every step's every exit leads, by step id and field: what an edit must preserve unless it means to change it. */
type Wiring = Map<string, Map<string, Target>>;

function wiringOf(steps: Step[]): Wiring {
  const wiring: Wiring = new Map();
  steps.forEach((step, i) => {
    wiring.set(step.id, new Map(outFields(steps, i).map(({ field, target }) => [key(field), target ?? null])));
  });
  return wiring;
}

function readField(step: Step, field: (string | number)[]): unknown {
  let at: unknown = step;
  for (const part of field) at = (at as Record<string | number, unknown> | undefined)?.[part];
  return at;
}

function writeField(step: Step, field: (string | number)[], value: string | undefined): void {
  let at = step as unknown as Record<string | number, unknown>;
  for (const part of field.slice(0, -1)) at = at[part] as Record<string | number, unknown>;
  const last = field[field.length - 1] as string | number;
  if (value === undefined) delete at[last];
  else at[last] = value;
}

/** An id of the form `<base>-<n>` no step of `steps` has. */
export function freshId(steps: Step[], base: string): string {
  const taken = new Set(steps.map((s) => s.id));
  for (let n = 1; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

/**
 * Rewrites the steps' next/then/else/path fields so that each leads where `wiring` says, touching a field only
 * when its current value (explicit, or the array order's) leads elsewhere. Only the last step can end implicitly
 * and a split path always names a step, so other ends become one appended `exit` step.
 */
function materialise(input: Step[], wiring: Wiring): Step[] {
  const steps = structuredClone(input);
  const wanted = (step: Step, field: (string | number)[]) => wiring.get(step.id)?.get(key(field)) ?? null;
  const needsExit = steps.some((step, i) =>
    outFields(steps, i).some(({ field }) => wanted(step, field) === null && (i < steps.length - 1 || field[0] === "paths")),
  );
  if (needsExit) {
    const last = steps[steps.length - 1];
    const exitId = last?.type === "exit" ? last.id : freshId(steps, "end");
    for (const fields of wiring.values()) for (const [k, target] of fields) if (target === null) fields.set(k, exitId);
    if (exitId !== last?.id) steps.push({ id: exitId, type: "exit" });
  }
  steps.forEach((step, i) => {
    const following = steps[i + 1]?.id ?? null;
    for (const { field } of outFields(steps, i)) {
      const target = wanted(step, field);
      const current = readField(step, field);
      if (current === target) continue;
      if (current === undefined && following === target) continue;
      writeField(step, field, target ?? undefined);
    }
  });
  return steps;
}

/** Steps reachable from the first one through `wiring`. */
function reachable(steps: Step[], wiring: Wiring): Set<string> {
  const seen = new Set<string>();
  const pending = steps[0] ? [steps[0].id] : [];
  for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
    if (seen.has(id)) continue;
    seen.add(id);
    for (const target of wiring.get(id)?.values() ?? []) if (target !== null) pending.push(target);
  }
  return seen;
}

/** The result of an edit: the new draft, the steps it removed because nothing led to them any more, or why it was refused. */
export type EditResult = { ok: true; draft: Draft; removed: string[] } | { ok: false; reason: string };

/** Drops the steps the wiring no longer reaches and writes the fields; refuses when a kept wait_for watches a dropped email. */
function finish(draft: Draft, steps: Step[], wiring: Wiring, deleted: string[] = []): EditResult {
  const keep = reachable(steps, wiring);
  const removed = steps.filter((s) => !keep.has(s.id)).map((s) => s.id);
  const kept = steps.filter((s) => keep.has(s.id));
  const gone = [...deleted, ...removed];
  const watcher = kept.find((s) => s.type === "wait_for" && s.of !== undefined && gone.includes(s.of));
  if (watcher && watcher.type === "wait_for") {
    return { ok: false, reason: `Step "${watcher.id}" waits for an event of "${watcher.of}": point it elsewhere first.` };
  }
  for (const id of removed) wiring.delete(id);
  return { ok: true, draft: { ...draft, steps: materialise(kept, wiring) }, removed };
}

/** A new step of `type` with the fields it needs, to be completed in the side panel. */
export function newStep(type: StepType, id: string, target: Target): Step {
  switch (type) {
    case "email":
      // No template yet: the side panel's picker chooses one, and validation says so until then.
      return { id, type };
    case "wait":
      return { id, type, for: "1d" };
    case "wait_for":
      return { id, type, event: "email_opened", timeout: "3d" };
    case "branch":
      return { id, type, if: { attr: "lifecycle_stage", op: "eq", value: "customer" } };
    case "split":
      return {
        id,
        type,
        paths: [
          { weight: 50, next: target ?? "" },
          { weight: 50, next: target ?? "" },
        ],
      };
    case "update":
      return { id, type, add_tags: [] };
    case "notify":
      return { id, type, to_attribute: "owner_email", template: "" };
    case "webhook":
      return { id, type, url: "https://" };
    case "exit":
      return { id, type };
  }
}

/** Inserts a new step of `type` on `edge`: the edge now leads to it, and it leads where the edge led. */
export function insertStep(draft: Draft, edge: Pick<Edge, "from" | "field" | "target">, type: StepType): EditResult {
  const steps = structuredClone(draft.steps);
  const wiring = wiringOf(steps);
  const id = freshId(steps, type.replace("_", "-"));
  const step = newStep(type, id, edge.target);
  const at = edge.from === TRIGGER ? 0 : steps.findIndex((s) => s.id === edge.from) + 1;
  if (edge.from !== TRIGGER && at === 0) return { ok: false, reason: `No step "${edge.from}"` };
  steps.splice(at, 0, step);
  if (edge.from !== TRIGGER) wiring.get(edge.from)?.set(key(edge.field), id);
  wiring.set(id, new Map(outFields(steps, at).map(({ field }) => [key(field), edge.target])));
  return finish(draft, steps, wiring);
}

/** Deletes a step: what led to it leads to its first exit instead (next, then/yes, the first path); steps only its other exits reached go too. */
export function deleteStep(draft: Draft, id: string): EditResult {
  const steps = structuredClone(draft.steps);
  const wiring = wiringOf(steps);
  const index = steps.findIndex((s) => s.id === id);
  if (index < 0) return { ok: false, reason: `No step "${id}"` };
  const [first] = wiring.get(id)?.values() ?? [];
  const successor = first ?? null;
  for (const fields of wiring.values()) for (const [k, target] of fields) if (target === id) fields.set(k, successor);
  wiring.delete(id);
  steps.splice(index, 1);
  if (index === 0) {
    // The trigger led to the deleted step: it now leads to the successor, which must come first.
    const at = steps.findIndex((s) => s.id === successor);
    if (at < 0) return { ok: true, draft: { ...draft, steps: [] }, removed: steps.map((s) => s.id) };
    steps.unshift(...steps.splice(at, 1));
  }
  return finish(draft, steps, wiring, [id]);
}

/** Steps from which `id` can be reached (itself included): pointing `id` at one of them would make a loop. */
export function ancestorsOf(draft: Draft, id: string): Set<string> {
  const parents = new Map<string, string[]>();
  for (const edge of edgesOf(draft)) {
    if (edge.target !== null && edge.from !== TRIGGER) parents.set(edge.target, [...(parents.get(edge.target) ?? []), edge.from]);
  }
  const seen = new Set<string>();
  const pending = [id];
  for (let at = pending.pop(); at !== undefined; at = pending.pop()) {
    if (seen.has(at)) continue;
    seen.add(at);
    pending.push(...(parents.get(at) ?? []));
  }
  return seen;
}

/** Points one exit of a step at another step (or the end); steps nothing leads to any more are removed. */
export function retarget(draft: Draft, from: string, field: (string | number)[], target: Target): EditResult {
  if (target !== null && ancestorsOf(draft, from).has(target)) return { ok: false, reason: "That would make a loop." };
  const steps = structuredClone(draft.steps);
  const wiring = wiringOf(steps);
  wiring.get(from)?.set(key(field), target);
  return finish(draft, steps, wiring);
}

/** Adds a path to a split, leading to the end. */
export function addSplitPath(draft: Draft, id: string): EditResult {
  const steps = structuredClone(draft.steps);
  const wiring = wiringOf(steps);
  const step = steps.find((s) => s.id === id);
  if (step?.type !== "split") return { ok: false, reason: `Step "${id}" is not a split` };
  step.paths.push({ weight: 50, next: "" });
  wiring.get(id)?.set(key(["paths", step.paths.length - 1, "next"]), null);
  return finish(draft, steps, wiring);
}

/** Removes path `index` of a split (a split keeps at least two). */
export function removeSplitPath(draft: Draft, id: string, index: number): EditResult {
  const steps = structuredClone(draft.steps);
  const step = steps.find((s) => s.id === id);
  if (step?.type !== "split" || step.paths.length <= 2) return { ok: false, reason: "A split needs at least two paths." };
  step.paths.splice(index, 1);
  return finish(draft, steps, wiringOf(steps));
}

/** Replaces one step's own fields (not its wiring) with `step`, as the side panel edits them. */
export function updateStep(draft: Draft, step: Step): Draft {
  return { ...draft, steps: draft.steps.map((s) => (s.id === step.id ? step : s)) };
}

/** A laid-out node: the trigger, a step, or the end. */
export interface PlacedNode {
  id: string;
  x: number;
  y: number;
}
/** A laid-out edge with its polyline and where its "+" sits. */
export interface PlacedEdge extends Edge {
  points: { x: number; y: number }[];
  mid: { x: number; y: number };
}
/** Node box size on the canvas. */
export const NODE = { width: 220, height: 64 } as const;
/** The id of the end node (no step may take it: step ids never hold ':'). */
export const END_NODE = "end:";

/** Lays the graph out top to bottom (dagre): trigger first, one shared end node for every edge that ends the flow. */
export function layout(draft: Draft): { nodes: PlacedNode[]; edges: PlacedEdge[]; width: number; height: number } {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: "TB", nodesep: 50, ranksep: 70, edgesep: 30, marginx: 20, marginy: 20 });
  g.setDefaultEdgeLabel(() => ({}));
  const edges = edgesOf(draft);
  const ids = [TRIGGER, ...draft.steps.map((s) => s.id)];
  if (edges.some((e) => e.target === null)) ids.push(END_NODE);
  for (const id of ids) g.setNode(id, { width: NODE.width, height: id === END_NODE ? 36 : NODE.height });
  edges.forEach((e, i) => {
    g.setEdge(e.from, e.target ?? END_NODE, { width: 24, height: 24, labelpos: "c" }, String(i));
  });
  dagre.layout(g);
  const nodes = ids.map((id) => {
    const n = g.node(id);
    return { id, x: n.x, y: n.y };
  });
  const placed = edges.map((e, i) => {
    const label = g.edge({ v: e.from, w: e.target ?? END_NODE, name: String(i) }) as {
      points?: { x: number; y: number }[];
      x?: number;
      y?: number;
    };
    const points = label.points ?? [];
    const middle = points[Math.floor(points.length / 2)] ?? { x: 0, y: 0 };
    return { ...e, points, mid: { x: label.x ?? middle.x, y: label.y ?? middle.y } };
  });
  const graph = g.graph() as { width?: number; height?: number };
  return { nodes, edges: placed, width: graph.width ?? 0, height: graph.height ?? 0 };
}

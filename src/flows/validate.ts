/**
 * The rules of a flow that need the whole graph: step references, reachability,
 * loops that never wait, and templates that must exist. Pure: the caller passes
 * the known template ids. Every problem is returned at once, each with a path
 * into the definition and a tagged reason.
 */
import { z } from "zod";
import type { Condition, Flow, Step } from "./schema";
import { successors } from "./successors";
import { WEBHOOK_URL_REFUSALS, type WebhookPolicy, webhookUrlRefusal } from "./webhook-url";

export { successors };

export type FlowProblemReason =
  | "duplicate_step"
  | "unknown_step"
  | "not_an_email_step"
  | "unreachable_step"
  | "loop_without_wait"
  | "unknown_template"
  | "webhook_url_refused";

export interface FlowProblem {
  path: (string | number)[];
  reason: FlowProblemReason;
  message: string;
}

/** Steps that make a contact wait, and so break a loop. */
function waits(step: Step): boolean {
  return step.type === "wait" || step.type === "wait_for";
}

/** The template ids a flow uses, with where each is named. */
export function templatesOf(flow: Flow): { template: string; path: (string | number)[] }[] {
  const out: { template: string; path: (string | number)[] }[] = [];
  flow.steps.forEach((step, i) => {
    if (step.type === "email") {
      if (step.template) out.push({ template: step.template, path: ["steps", i, "template"] });
      step.variants?.forEach((v, j) => {
        if (v.template) out.push({ template: v.template, path: ["steps", i, "variants", j, "template"] });
      });
    }
    if (step.type === "notify") out.push({ template: step.template, path: ["steps", i, "template"] });
  });
  return out;
}

/** Every graph problem of a flow that already matches the schema; webhooks must be https unless `webhooks` allows http. */
export function validateFlowGraph(
  flow: Flow,
  knownTemplates: ReadonlySet<string>,
  webhooks: WebhookPolicy = { allowHttp: false },
): FlowProblem[] {
  const problems: FlowProblem[] = [];
  const indexOf = new Map<string, number>();
  flow.steps.forEach((step, i) => {
    if (indexOf.has(step.id)) {
      problems.push({ path: ["steps", i, "id"], reason: "duplicate_step", message: `Step id "${step.id}" is used twice` });
    } else indexOf.set(step.id, i);
  });

  const edges: number[][] = flow.steps.map(() => []);
  flow.steps.forEach((step, i) => {
    for (const { field, target } of successors(flow, i)) {
      if (target === undefined) continue;
      const j = indexOf.get(target);
      if (j === undefined) {
        problems.push({ path: ["steps", i, ...field], reason: "unknown_step", message: `No step has id "${target}"` });
      } else edges[i]?.push(j);
    }
    if (step.type === "wait_for" && step.of !== undefined) {
      const j = indexOf.get(step.of);
      if (j === undefined) problems.push({ path: ["steps", i, "of"], reason: "unknown_step", message: `No step has id "${step.of}"` });
      else if (flow.steps[j]?.type !== "email")
        problems.push({ path: ["steps", i, "of"], reason: "not_an_email_step", message: `Step "${step.of}" sends no email` });
    }
  });

  const reached = new Set<number>([0]);
  const stack = [0];
  while (stack.length > 0) {
    for (const j of edges[stack.pop() as number] ?? []) {
      if (!reached.has(j)) {
        reached.add(j);
        stack.push(j);
      }
    }
  }
  flow.steps.forEach((step, i) => {
    if (!reached.has(i))
      problems.push({ path: ["steps", i], reason: "unreachable_step", message: `Step "${step.id}" can never be reached` });
  });

  for (const cycle of cyclesWithoutWait(flow, edges)) {
    const ids = cycle.map((i) => flow.steps[i]?.id);
    problems.push({
      path: ["steps", cycle[0] ?? 0],
      reason: "loop_without_wait",
      message: `Steps ${ids.map((s) => `"${s}"`).join(" → ")} loop without any wait`,
    });
  }

  for (const { template, path } of templatesOf(flow)) {
    if (!knownTemplates.has(template)) problems.push({ path, reason: "unknown_template", message: `No template has id "${template}"` });
  }
  flow.steps.forEach((step, i) => {
    const refusal = step.type === "webhook" ? webhookUrlRefusal(step.url, webhooks) : null;
    if (refusal) problems.push({ path: ["steps", i, "url"], reason: "webhook_url_refused", message: WEBHOOK_URL_REFUSALS[refusal] });
  });
  return problems;
}

/** A reference that is either a string or treated as absent. */
const LooseRef = z.string().optional().catch(undefined);

/**
 * The part of a definition the graph checks read (ids, types, references,
 * templates), accepted leniently so a body that fails the schema elsewhere can
 * still be checked as a graph. Each step needs a string id and type, or there
 * is no graph to check.
 */
const GraphShape = z.object({
  steps: z
    .array(
      z.looseObject({
        id: z.string(),
        type: z.string(),
        next: LooseRef,
        then: LooseRef,
        else: LooseRef,
        of: LooseRef,
        template: LooseRef,
        variants: z
          .array(z.looseObject({ template: LooseRef }))
          .optional()
          .catch(undefined),
        paths: z
          .array(z.looseObject({ next: LooseRef }))
          .optional()
          .catch(undefined),
      }),
    )
    .min(1),
});

/** The graph of a body that failed the schema, when its steps can still be read (see GraphShape); else null. */
export function graphOfUnparsed(raw: unknown): Flow | null {
  const parsed = GraphShape.safeParse(raw);
  if (!parsed.success) return null;
  // The graph checks read only the fields GraphShape guarantees (a split without readable paths has none).
  const steps = parsed.data.steps.map((s) => (s.type === "split" ? { ...s, paths: s.paths ?? [] } : s));
  return { steps } as unknown as Flow;
}

/** One cycle per strongly connected group of steps that loops through no wait (Tarjan over the non-waiting steps). */
function cyclesWithoutWait(flow: Flow, edges: number[][]): number[][] {
  const instant = (i: number) => !waits(flow.steps[i] as Step);
  const index = new Map<number, number>();
  const low = new Map<number, number>();
  const onStack = new Set<number>();
  const stack: number[] = [];
  const found: number[][] = [];
  let counter = 0;
  const visit = (v: number) => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of (edges[v] ?? []).filter(instant)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
    }
    if (low.get(v) === index.get(v)) {
      const group: number[] = [];
      let w: number;
      do {
        w = stack.pop() as number;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      if (group.length > 1 || edges[v]?.includes(v)) found.push(group.sort((a, b) => a - b));
    }
  };
  flow.steps.forEach((_, i) => {
    if (instant(i) && !index.has(i)) visit(i);
  });
  return found;
}

/** The key under which a flow's trigger is indexed, so that an event finds only the flows it can start. */
export function triggerKey(flow: Flow): string {
  const t = flow.trigger;
  // A list is kept as JSON after its own prefix, which the store searches with json_each.
  if ("event" in t) return typeof t.event === "string" ? `event:${t.event}` : `events:${JSON.stringify(t.event)}`;
  if ("segment_entered" in t) return `segment:${t.segment_entered}`;
  if ("attribute_changed" in t) return `attribute:${t.attribute_changed}`;
  if ("date" in t) return `date:${t.date.attribute}`;
  return "inactive";
}

/** Every condition a flow may evaluate at run time (trigger, exits, goal, branches, wait_for filters). */
export function conditionsOf(flow: Flow): Condition[] {
  const out: Condition[] = [];
  const t = flow.trigger;
  if (("event" in t || "attribute_changed" in t) && t.where) out.push(t.where);
  for (const x of flow.exit_when ?? []) if (x.where) out.push(x.where);
  if (flow.goal?.where) out.push(flow.goal.where);
  for (const s of flow.steps) {
    if (s.type === "branch") out.push(s.if);
    if (s.type === "wait_for" && s.where) out.push(s.where);
  }
  return out;
}

/**
 * The flow editor's structural edits (src/dashboard/client/flow-graph.ts): each keeps the
 * graph well-formed by the very graph checks PUT runs, rewrites only what it must, and a
 * load without edits leaves a library flow byte-for-byte as it was.
 */
import { describe, expect, it } from "vitest";
import {
  addSplitPath,
  type Draft,
  deleteStep,
  type EditResult,
  edgesOf,
  insertStep,
  layout,
  removeSplitPath,
  retarget,
  STEP_TYPES,
  TRIGGER,
} from "../../src/dashboard/client/flow-graph";
import type { Flow } from "../../src/flows/schema";
import { templatesOf, validateFlowGraph } from "../../src/flows/validate";
import { LIBRARY } from "../../src/library/catalog";

/** The graph problems PUT would report, templates aside (the editor's new email steps have none yet). */
function shapeProblems(draft: Draft): string[] {
  const flow = draft as Flow;
  const known = new Set(templatesOf(flow).map((t) => t.template));
  return validateFlowGraph(flow, known, { allowHttp: true })
    .filter((p) => p.reason !== "webhook_url_refused")
    .map((p) => `${p.reason} ${JSON.stringify(p.path)}`);
}

function ok(result: EditResult): Draft {
  if (!result.ok) throw new Error(result.reason);
  return result.draft;
}

/** The library's welcome series (a wait, an A/B email, a wait_for with then/else). */
function welcomeFlow(): Draft {
  return structuredClone(LIBRARY[0]?.flow) as Draft;
}

const empty: Draft = { name: "New", trigger: { event: "signup" }, steps: [] };

describe("building from an empty canvas", () => {
  it("draws the trigger leading to the end, then the brief's flow edit by edit", () => {
    expect(edgesOf(empty)).toEqual([{ from: TRIGGER, field: [], target: null, label: "" }]);
    let d = ok(insertStep(empty, { from: TRIGGER, field: [], target: null }, "email"));
    d = ok(insertStep(d, { from: "email-1", field: ["next"], target: null }, "wait"));
    d = ok(insertStep(d, { from: "wait-1", field: ["next"], target: null }, "wait_for"));
    d = ok(insertStep(d, { from: "wait-for-1", field: ["then"], target: null }, "branch"));
    d = ok(
      insertStep(d, { from: "branch-1", field: ["then"], target: edgesOf(d).find((e) => e.from === "branch-1")?.target ?? null }, "email"),
    );
    expect(d.steps.map((s) => `${s.id}:${s.type}`)).toEqual([
      "email-1:email",
      "wait-1:wait",
      "wait-for-1:wait_for",
      "branch-1:branch",
      "email-2:email",
      "end-1:exit",
    ]);
    const edges = Object.fromEntries(edgesOf(d).map((e) => [`${e.from}.${e.field.join(".")}`, e.target]));
    expect(edges).toEqual({
      [`${TRIGGER}.`]: "email-1",
      "email-1.next": "wait-1",
      "wait-1.next": "wait-for-1",
      "wait-for-1.then": "branch-1",
      "wait-for-1.else": "end-1",
      "branch-1.then": "email-2",
      "branch-1.else": "end-1",
      "email-2.next": "end-1",
    });
    expect(shapeProblems(d)).toEqual([]);
  });

  it("inserts between two steps without changing where anything else leads", () => {
    const flow = welcomeFlow();
    const before = edgesOf(flow).filter((e) => e.from !== "wait_2");
    const d = ok(insertStep(flow, { from: "wait_2", field: ["next"], target: "email_2" }, "update"));
    const after = edgesOf(d);
    expect(after.find((e) => e.from === "wait_2")?.target).toBe("update-1");
    expect(after.find((e) => e.from === "update-1")?.target).toBe("email_2");
    for (const edge of before) expect(after).toContainEqual(edge);
  });
});

describe("deleting", () => {
  it("reconnects what led to the step to its successor", () => {
    const flow = welcomeFlow();
    const d = ok(deleteStep(flow, "wait_2"));
    expect(d.steps.some((s) => s.id === "wait_2")).toBe(false);
    expect(edgesOf(d).find((e) => e.from === "email_1")?.target).toBe(edgesOf(flow).find((e) => e.from === "wait_2")?.target);
    expect(shapeProblems(d)).toEqual([]);
  });

  it("removes the steps only a deleted branch's other path reached, and names them", () => {
    let d = ok(insertStep(empty, { from: TRIGGER, field: [], target: null }, "branch"));
    d = ok(insertStep(d, { from: "branch-1", field: ["else"], target: "end-1" }, "email"));
    const result = deleteStep(d, "branch-1");
    expect(result.ok && result.removed).toEqual(["email-1"]);
    expect(shapeProblems(ok(result))).toEqual([]);
  });

  it("refuses to delete an email a wait_for watches", () => {
    let d = ok(insertStep(empty, { from: TRIGGER, field: [], target: null }, "email"));
    d = ok(insertStep(d, { from: "email-1", field: ["next"], target: null }, "wait_for"));
    d = { ...d, steps: d.steps.map((s) => (s.type === "wait_for" ? { ...s, of: "email-1" } : s)) };
    expect(deleteStep(d, "email-1")).toMatchObject({ ok: false });
  });

  it("deleting the first step makes its successor the trigger's", () => {
    const flow = welcomeFlow();
    const d = ok(deleteStep(flow, flow.steps[0]?.id as string));
    expect(d.steps[0]?.id).toBe(edgesOf(flow).find((e) => e.from === flow.steps[0]?.id)?.target);
    expect(shapeProblems(d)).toEqual([]);
  });
});

describe("re-pointing and splits", () => {
  it("refuses a loop and removes what nothing leads to any more", () => {
    let d = ok(insertStep(empty, { from: TRIGGER, field: [], target: null }, "wait"));
    d = ok(insertStep(d, { from: "wait-1", field: ["next"], target: null }, "email"));
    expect(retarget(d, "email-1", ["next"], "wait-1")).toMatchObject({ ok: false });
    const r = retarget(d, "wait-1", ["next"], null);
    expect(r.ok && r.removed).toEqual(["email-1"]);
  });

  it("adds and removes split paths, never below two", () => {
    let d = ok(insertStep(empty, { from: TRIGGER, field: [], target: null }, "split"));
    d = ok(addSplitPath(d, "split-1"));
    const split = d.steps[0];
    expect(split?.type === "split" && split.paths.length).toBe(3);
    expect(shapeProblems(d)).toEqual([]);
    d = ok(removeSplitPath(d, "split-1", 2));
    expect(removeSplitPath(d, "split-1", 0)).toMatchObject({ ok: false });
  });
});

describe("every edit on every library flow", () => {
  it("leaves a definition that passes the schema's graph checks", () => {
    let random = 7;
    const next = (n: number) => {
      random = (random * 1103515245 + 12345) % 2 ** 31;
      return random % n;
    };
    for (const entry of LIBRARY) {
      let d = structuredClone(entry.flow) as Draft;
      expect(shapeProblems(d)).toEqual([]);
      for (let round = 0; round < 25; round++) {
        const edges = edgesOf(d);
        const choice = next(3);
        let result: EditResult;
        if (choice === 0 || d.steps.length < 2) {
          const edge = edges[next(edges.length)] as (typeof edges)[number];
          result = insertStep(d, edge, STEP_TYPES[next(STEP_TYPES.length)] as (typeof STEP_TYPES)[number]);
        } else if (choice === 1) {
          result = deleteStep(d, d.steps[next(d.steps.length)]?.id as string);
        } else {
          const edge = edges.filter((e) => e.from !== TRIGGER)[next(edges.length - 1)];
          const targets = [null, ...d.steps.map((s) => s.id)];
          result = edge ? retarget(d, edge.from, edge.field, targets[next(targets.length)] ?? null) : { ok: false, reason: "" };
        }
        if (!result.ok) continue;
        d = result.draft;
        expect(shapeProblems(d), `${entry.name} round ${round}`).toEqual([]);
        expect(new Set(d.steps.map((s) => s.id)).size).toBe(d.steps.length);
      }
      expect(layout(d).nodes.length).toBeGreaterThan(d.steps.length);
    }
  });

  it("lays each library flow out with every edge drawn", () => {
    for (const entry of LIBRARY) {
      const placed = layout(entry.flow as Draft);
      expect(placed.edges).toHaveLength(edgesOf(entry.flow as Draft).length);
      for (const edge of placed.edges) expect(edge.points.length).toBeGreaterThan(1);
    }
  });
});

import { describe, expect, it } from "vitest";
import { successors } from "../../src/flows/successors";
import { LIBRARY } from "../../src/library/catalog";
import { reportedSteps } from "../../src/reports/definition";
import { flow } from "./fixtures";

const graph = flow({
  name: "g",
  trigger: { event: "x" },
  steps: [
    { id: "hello", type: "email", template: "t" },
    { id: "pause", type: "wait", for: "1d", next: "ask" },
    { id: "skipped", type: "email", template: "t" },
    { id: "ask", type: "branch", if: { attr: "plan", op: "eq", value: "pro" }, then: "pro" },
    {
      id: "ab",
      type: "split",
      paths: [
        { weight: 1, next: "pro" },
        { weight: 1, next: "done" },
      ],
    },
    { id: "pro", type: "wait_for", event: "order_placed", timeout: "2d", else: "done" },
    { id: "done", type: "exit" },
  ],
});
const edges = (index: number) => successors(graph, index);

describe("a step's outgoing edges", () => {
  it("follow the array when a step names no next, and its next when it does", () => {
    expect(edges(0)).toEqual([{ field: ["next"], target: "pause" }]);
    expect(edges(1)).toEqual([{ field: ["next"], target: "ask" }]);
  });

  it("are then and else for a branch and a wait_for, each falling through to the following step when unnamed", () => {
    expect(edges(3)).toEqual([
      { field: ["then"], target: "pro" },
      { field: ["else"], target: "ab" },
    ]);
    expect(edges(5)).toEqual([
      { field: ["then"], target: "done" },
      { field: ["else"], target: "done" },
    ]);
  });

  it("are one per path for a split, none for an exit, and end the flow past the last step", () => {
    expect(edges(4)).toEqual([
      { field: ["paths", 0, "next"], target: "pro" },
      { field: ["paths", 1, "next"], target: "done" },
    ]);
    expect(edges(6)).toEqual([]);
    const last = flow({ name: "l", trigger: { event: "x" }, steps: [{ id: "only", type: "email", template: "t" }] });
    expect(successors(last, 0)).toEqual([{ field: ["next"], target: undefined }]);
    expect(successors(last, 1)).toEqual([]);
  });

  it("are the same for the leniently read steps reports draw as for the parsed flow, in every library flow", () => {
    for (const { flow: parsed } of [...LIBRARY, { flow: graph }]) {
      const lenient = reportedSteps(JSON.parse(JSON.stringify(parsed)));
      expect(lenient.map((_, i) => successors({ steps: lenient }, i))).toEqual(parsed.steps.map((_, i) => successors(parsed, i)));
    }
  });
});

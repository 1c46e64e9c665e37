import { describe, expect, it } from "vitest";
import { describeChanges, flowChanges, unchanged } from "../../src/flows/diff";
import type { Flow } from "../../src/flows/schema";

const base: Flow = {
  name: "Welcome",
  trigger: { event: "subscribed" },
  settings: { quiet_hours: { start: "21:00", end: "08:00" }, timezone: "Europe/Paris" },
  steps: [
    { id: "hello", type: "email", template: "w1" },
    { id: "pause", type: "wait", for: "1d" },
    { id: "bye", type: "email", template: "w2" },
  ],
};

describe("flowChanges", () => {
  it("finds nothing between a flow and a copy whose keys are written in another order", () => {
    const reordered = JSON.parse(
      JSON.stringify({
        steps: base.steps.map((s) => Object.fromEntries(Object.entries(s).reverse())),
        trigger: base.trigger,
        settings: { timezone: "Europe/Paris", quiet_hours: { end: "08:00", start: "21:00" } },
        name: base.name,
      }),
    ) as Flow;
    const changes = flowChanges(base, reordered);
    expect(unchanged(changes)).toBe(true);
    expect(describeChanges(changes)).toBe("no change");
  });

  it("names added, removed and changed steps, a new order, and each changed rule and setting", () => {
    const after: Flow = {
      ...base,
      goal: { event: "order_placed" },
      settings: { ...base.settings, quiet_hours: { start: "22:00", end: "08:00" } },
      steps: [
        { id: "bye", type: "email", template: "w2" },
        { id: "hello", type: "email", template: "w1", next: "bye" },
        { id: "nudge", type: "email", template: "w3" },
      ],
    };
    const changes = flowChanges(base, after);
    expect(changes).toEqual({
      steps_added: ["nudge"],
      steps_removed: ["pause"],
      steps_changed: ["hello"],
      steps_reordered: true,
      rules_changed: ["goal", "settings.quiet_hours"],
    });
    expect(describeChanges(changes)).toBe(
      "added step nudge; removed step pause; changed step hello; reordered steps; changed goal, settings.quiet_hours",
    );
  });

  it("lists several steps of one kind together and a removed setting as a change", () => {
    const after: Flow = { ...base, settings: { timezone: "Europe/Paris" }, steps: [{ id: "only", type: "exit" }] };
    const changes = flowChanges(base, after);
    expect(changes.steps_removed).toEqual(["hello", "pause", "bye"]);
    expect(changes.steps_reordered).toBe(false);
    expect(describeChanges(changes)).toBe("added step only; removed steps hello, pause, bye; changed settings.quiet_hours");
  });
});

import { describe, expect, it } from "vitest";
import { enroll, type Outcome, type RunContext, step } from "../../src/flows/interpreter";
import { LIBRARY } from "../../src/library/catalog";
import { contact, ctx, DAY, deepFreeze, event, flow, HOUR, T0 } from "./fixtures";

/** Enrolls and then runs an order, an open of the first email and every timer for a year; returns each outcome. */
function scenario(context: (now: number) => RunContext, freeze: <T>(value: T) => T): Outcome[] {
  const outcomes: Outcome[] = [];
  let outcome = enroll(freeze(event("trigger", T0, { id: "evt_trigger" })), "occ-1", context(T0));
  outcomes.push(outcome);
  const firstEmail = outcome.effects.find((e) => e.type === "queue_email");
  const inputs = [
    { type: "event" as const, event: event("order_placed", T0 + HOUR, { id: "evt_order", value: 40 }) },
    {
      type: "event" as const,
      event: event("email_opened", T0 + 2 * HOUR, {
        id: "evt_open",
        messageId: firstEmail?.type === "queue_email" ? firstEmail.messageId : null,
      }),
    },
  ];
  for (const input of inputs) {
    outcome = step(freeze(outcome.state), freeze(input), context(input.event.ts));
    outcomes.push(outcome);
  }
  for (let timers = 0; timers < 200; timers++) {
    const { state } = outcome;
    if (state.status !== "active" || state.wakeAt === null || state.wakeAt > T0 + 365 * DAY) break;
    outcome = step(freeze(state), { type: "timer" }, context(state.wakeAt));
    outcomes.push(outcome);
  }
  return outcomes;
}

describe("the interpreter never mutates its inputs", () => {
  it("runs on deep-frozen inputs, and a write to one throws (so a mutation cannot pass unseen)", () => {
    const frozen = deepFreeze({ contact: contact({ tags: ["vip"] }), marketingSends: [T0] });
    expect(() => frozen.marketingSends.push(T0)).toThrow(TypeError);
    expect(() => frozen.contact.tags.push("x")).toThrow(TypeError);
    expect(() => {
      frozen.contact.attributes.plan = "pro";
    }).toThrow(TypeError);
  });

  for (const entry of LIBRARY) {
    it(`runs the ${entry.name} library flow on frozen inputs exactly as on fresh copies`, () => {
      const facts = contact({ attributes: { birthday: "1990-11-30", plan: "pro", company: "Acme" }, lifecycle_stage: "lead" });
      const definition = deepFreeze(structuredClone({ ...entry.flow, id: entry.name }));
      const frozenFacts = deepFreeze(structuredClone(facts));
      const sends = deepFreeze([T0 - 2 * DAY]);
      const frozen = scenario((now) => ctx(definition, now, { contact: frozenFacts, marketingSends: sends }), deepFreeze);
      const fresh = scenario(
        (now) => ({
          ...ctx(definition, now),
          flow: structuredClone(definition),
          contact: structuredClone(facts),
          marketingSends: [T0 - 2 * DAY],
        }),
        (value) => value,
      );
      expect(frozen).toEqual(fresh);
      expect(frozen.flatMap((o) => o.effects).length).toBeGreaterThan(0);
      expect(frozenFacts).toEqual(facts);
      expect(sends).toEqual([T0 - 2 * DAY]);
    });
  }
});

describe("what a run changes comes back in its Outcome", () => {
  const capped = flow({
    name: "c",
    trigger: { event: "x" },
    settings: { frequency_cap: { max: 1, per: "1d", on_cap: "skip" } },
    steps: [{ id: "e", type: "email", template: "t" }],
  });

  it("returns the marketing sends with the ones it queued added, and the next run's cap counts them", () => {
    const none: readonly number[] = deepFreeze([]);
    const first = enroll(event("x", T0), "occ-1", ctx(capped, T0, { marketingSends: none }));
    expect(first.effects.some((e) => e.type === "queue_email")).toBe(true);
    expect(first.marketingSends).toEqual([T0]);
    expect(none).toEqual([]);
    const second = enroll(event("x", T0 + HOUR), "occ-2", ctx(capped, T0 + HOUR, { marketingSends: first.marketingSends }));
    expect(second.effects).toContainEqual({ type: "skipped", stepId: "e", reason: "frequency_cap" });
    expect(second.marketingSends).toEqual([T0]);
  });

  it("returns the contact as an update left it, leaving the given facts as they were", () => {
    const tagging = flow({
      name: "tag",
      trigger: { event: "x" },
      steps: [{ id: "u", type: "update", set: { plan: "pro" }, add_tags: ["vip"], remove_tags: ["trial"], lifecycle_stage: "customer" }],
    });
    const facts = deepFreeze(contact({ tags: ["trial"], attributes: { plan: "free", seats: 3 } }));
    const outcome = enroll(event("x", T0), "occ", ctx(tagging, T0, { contact: facts }));
    expect(outcome.contact).toMatchObject({ tags: ["vip"], attributes: { plan: "pro", seats: 3 }, lifecycle_stage: "customer" });
    expect(facts).toMatchObject({ tags: ["trial"], attributes: { plan: "free", seats: 3 }, lifecycle_stage: null });
  });
});

import { describe, expect, it } from "vitest";
import { enroll, triggerMatches } from "../../src/flows/interpreter";
import { Flow } from "../../src/flows/schema";
import { triggerKey } from "../../src/flows/validate";
import { contact, ctx, event, flow, T0 } from "./fixtures";

const facts = { contact: contact(), now: T0, countEvents: () => 0 };

describe("a trigger listing several events", () => {
  const cart = flow({ name: "cart", trigger: { event: ["checkout_started", "added_to_cart"] }, steps: [{ id: "e", type: "exit" }] });

  it("starts on any listed event and on no other", () => {
    expect(triggerMatches(cart, event("checkout_started", T0), facts)).toEqual({ ok: true });
    expect(triggerMatches(cart, event("added_to_cart", T0), facts)).toEqual({ ok: true });
    expect(triggerMatches(cart, event("order_placed", T0), facts)).toEqual({ ok: false, reason: "other_event" });
    expect(triggerMatches(cart, event("added_to_cart", T0, { machine: true }), facts)).toEqual({ ok: false, reason: "machine_event" });
  });

  it("applies its where to every listed event", () => {
    const big = flow({
      name: "big",
      trigger: { event: ["a", "b"], where: { prop: "value", op: "gte", value: 50 } },
      steps: [{ id: "e", type: "exit" }],
    });
    expect(triggerMatches(big, event("b", T0, { properties: { value: 60 } }), facts)).toEqual({ ok: true });
    expect(triggerMatches(big, event("b", T0, { properties: { value: 10 } }), facts)).toEqual({ ok: false, reason: "where_false" });
  });

  it("is indexed under its own key, and a single name keeps the old key", () => {
    expect(triggerKey(cart)).toBe('events:["checkout_started","added_to_cart"]');
    expect(triggerKey(flow({ name: "one", trigger: { event: "a" }, steps: [{ id: "e", type: "exit" }] }))).toBe("event:a");
  });

  it("refuses an empty list, a repeated name and more than 20 names", () => {
    const parse = (names: unknown) => Flow.safeParse({ name: "x", trigger: { event: names }, steps: [{ id: "e", type: "exit" }] }).success;
    expect(parse([])).toBe(false);
    expect(parse(["a", "a"])).toBe(false);
    expect(parse(Array.from({ length: 21 }, (_, i) => `e${i}`))).toBe(false);
    expect(parse(Array.from({ length: 20 }, (_, i) => `e${i}`))).toBe(true);
  });
});

describe("update with increment", () => {
  const scoring = flow({
    name: "score",
    trigger: { event: "page_viewed" },
    steps: [
      { id: "score", type: "update", set: { plan: "pro" }, increment: { lead_score: 10, credits: -2.5, streak: 1 } },
      { id: "hot", type: "branch", if: { attr: "lead_score", op: "gte", value: 30 }, then: "mail", else: "done" },
      { id: "mail", type: "email", template: "hot" },
      { id: "done", type: "exit" },
    ],
  });

  it("adds to numbers, counts a missing or non-numeric attribute as 0, and later steps see the new value", () => {
    const c = contact({ attributes: { lead_score: 25, streak: "many" } });
    const o = enroll(event("page_viewed", T0), "occ", ctx(scoring, T0, { contact: c }));
    expect(o.effects[0]).toEqual({
      type: "update_contact",
      stepId: "score",
      set: { plan: "pro" },
      increment: { lead_score: 10, credits: -2.5, streak: 1 },
    });
    expect(o.contact.attributes).toEqual({ lead_score: 35, credits: -2.5, streak: 1, plan: "pro" });
    expect(c.attributes).toEqual({ lead_score: 25, streak: "many" });
    expect(o.effects.some((e) => e.type === "queue_email" && e.templateId === "hot")).toBe(true);
  });

  it("leaves a score under the threshold on the other path", () => {
    const o = enroll(event("page_viewed", T0), "occ", ctx(scoring, T0, { contact: contact() }));
    expect(o.effects.some((e) => e.type === "queue_email")).toBe(false);
    expect(o.state.endReason).toBe("exit_step");
  });

  it("refuses non-numbers, an empty increment and values past the bound", () => {
    const parse = (increment: unknown) =>
      Flow.safeParse({ name: "x", trigger: { event: "a" }, steps: [{ id: "u", type: "update", increment }] }).success;
    expect(parse({ lead_score: "10" })).toBe(false);
    expect(parse({})).toBe(false);
    expect(parse({ lead_score: 1e12 })).toBe(false);
    expect(parse({ lead_score: -5 })).toBe(true);
  });
});

describe("subject-line variants", () => {
  const subjects = flow({
    name: "subjects",
    trigger: { event: "signup" },
    steps: [
      {
        id: "hello",
        type: "email",
        template: "welcome",
        variants: [
          { subject: "Welcome, {{ contact.first_name }}", weight: 1 },
          { subject: "You are in", weight: 1 },
          { template: "welcome-long", weight: 1 },
        ],
      },
    ],
  });

  it("sends the step's template with the variant's subject, named template#n in messages and stats", () => {
    const seen = new Map<string, { templateId: string; subject: string | null }>();
    for (let i = 0; i < 60; i++) {
      const o = enroll(event("signup", T0), `occ${i}`, ctx(subjects, T0, { contact: contact({ id: `ct_${i}` }) }));
      for (const e of o.effects) if (e.type === "queue_email") seen.set(e.variant ?? "", { templateId: e.templateId, subject: e.subject });
    }
    expect(Object.fromEntries(seen)).toEqual({
      "welcome#1": { templateId: "welcome", subject: "Welcome, {{ contact.first_name }}" },
      "welcome#2": { templateId: "welcome", subject: "You are in" },
      "welcome-long": { templateId: "welcome-long", subject: null },
    });
  });

  it("sends only the recorded winner's subject", () => {
    for (let i = 0; i < 10; i++) {
      const o = enroll(
        event("signup", T0),
        `occ${i}`,
        ctx(subjects, T0, { contact: contact({ id: `ct_${i}` }), winners: { hello: "welcome#2" } }),
      );
      expect(o.effects.find((e) => e.type === "queue_email")).toMatchObject({ variant: "welcome#2", subject: "You are in" });
    }
  });

  it("needs the step's template for a variant that only sets a subject, and a variant to set something", () => {
    const parse = (step: Record<string, unknown>) =>
      Flow.safeParse({ name: "x", trigger: { event: "a" }, steps: [{ id: "m", type: "email", ...step }] }).success;
    expect(
      parse({
        variants: [
          { subject: "A", weight: 1 },
          { template: "t", weight: 1 },
        ],
      }),
    ).toBe(false);
    expect(parse({ template: "t", variants: [{ weight: 1 }, { subject: "B", weight: 1 }] })).toBe(false);
    expect(
      parse({
        template: "t",
        variants: [
          { subject: "A", weight: 1 },
          { subject: "B", weight: 1 },
        ],
      }),
    ).toBe(true);
  });
});

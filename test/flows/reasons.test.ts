import { describe, expect, it } from "vitest";
import { mayEnroll, mayEnrollByHand, triggerMatches } from "../../src/flows/interpreter";
import { contact, DAY, event, flow, T0 } from "./fixtures";

const steps = [{ id: "e", type: "email", template: "t" }];
const ended = [{ status: "exited" as const, enteredAt: T0 }];
const running = [{ status: "active" as const, enteredAt: T0 }];

describe("the re-entry rule says why it keeps a contact out", () => {
  it("already_enrolled while an enrollment runs, whatever the rule", () => {
    for (const reentry of ["never", "after_exit", { cooldown: "1d" }]) {
      expect(mayEnroll(flow({ name: "r", trigger: { event: "x" }, reentry, steps }), running, T0 + 30 * DAY)).toEqual({
        ok: false,
        reason: "already_enrolled",
      });
    }
  });

  it("reentry_never after a first enrollment, reentry_cooldown inside the cooldown", () => {
    expect(mayEnroll(flow({ name: "r", trigger: { event: "x" }, steps }), ended, T0 + DAY)).toEqual({ ok: false, reason: "reentry_never" });
    const cooling = flow({ name: "r", trigger: { event: "x" }, reentry: { cooldown: "2d" }, steps });
    expect(mayEnroll(cooling, ended, T0 + DAY)).toEqual({ ok: false, reason: "reentry_cooldown" });
    expect(mayEnroll(cooling, ended, T0 + 2 * DAY)).toEqual({ ok: true });
  });
});

describe("a hand enrollment says why it is refused", () => {
  const marketing = flow({ name: "m", trigger: { event: "x" }, reentry: { cooldown: "2d" }, steps });
  const transactional = flow({ name: "t", trigger: { event: "x" }, settings: { transactional: true }, steps });

  it("answers the re-entry reasons first", () => {
    expect(mayEnrollByHand(marketing, contact(), running, T0)).toEqual({ ok: false, reason: "already_enrolled" });
    expect(mayEnrollByHand(marketing, contact(), ended, T0 + DAY)).toEqual({ ok: false, reason: "reentry_cooldown" });
    expect(mayEnrollByHand(flow({ name: "n", trigger: { event: "x" }, steps }), contact(), ended, T0)).toEqual({
      ok: false,
      reason: "reentry_never",
    });
  });

  it("refuses a marketing flow for a suppressed, unsubscribed or unconfirmed contact, and says which", () => {
    expect(mayEnrollByHand(marketing, contact({ suppressed: true }), [], T0)).toEqual({ ok: false, reason: "suppressed" });
    expect(mayEnrollByHand(marketing, contact({ consent: "unsubscribed" }), [], T0)).toEqual({ ok: false, reason: "unsubscribed" });
    expect(mayEnrollByHand(marketing, contact({ consent: "pending" }), [], T0)).toEqual({ ok: false, reason: "not_subscribed" });
    expect(mayEnrollByHand(marketing, contact({ consent: "none" }), [], T0)).toEqual({ ok: false, reason: "not_subscribed" });
    expect(mayEnrollByHand(marketing, contact(), [], T0)).toEqual({ ok: true });
  });

  it("lets a transactional flow enroll whatever the consent", () => {
    expect(mayEnrollByHand(transactional, contact({ consent: "unsubscribed", suppressed: true }), [], T0)).toEqual({ ok: true });
  });
});

describe("a trigger says why an event does not start the flow", () => {
  const facts = { contact: contact(), now: T0, countEvents: () => 0 };
  const onEvent = flow({ name: "e", trigger: { event: "signed_up", where: { prop: "plan", op: "eq", value: "pro" } }, steps });
  const onChange = flow({ name: "a", trigger: { attribute_changed: "plan" }, steps });
  const onSegment = flow({ name: "s", trigger: { segment_entered: "vips" }, steps });

  it("machine_event, other_event, where_false for an event trigger", () => {
    const pro = { properties: { plan: "pro" } };
    expect(triggerMatches(onEvent, event("signed_up", T0, pro), facts)).toEqual({ ok: true });
    expect(triggerMatches(onEvent, event("signed_up", T0, { ...pro, machine: true }), facts)).toEqual({
      ok: false,
      reason: "machine_event",
    });
    expect(triggerMatches(onEvent, event("page_viewed", T0, pro), facts)).toEqual({ ok: false, reason: "other_event" });
    expect(triggerMatches(onEvent, event("signed_up", T0, { properties: { plan: "free" } }), facts)).toEqual({
      ok: false,
      reason: "where_false",
    });
  });

  it("other_event and other_attribute for an attribute_changed trigger", () => {
    expect(triggerMatches(onChange, event("attribute_changed", T0, { properties: { attribute: "plan" } }), facts)).toEqual({ ok: true });
    expect(triggerMatches(onChange, event("plan", T0), facts)).toEqual({ ok: false, reason: "other_event" });
    expect(triggerMatches(onChange, event("attribute_changed", T0, { properties: { attribute: "city" } }), facts)).toEqual({
      ok: false,
      reason: "other_attribute",
    });
  });

  it("not_an_event_trigger for the triggers the shell matches itself", () => {
    expect(triggerMatches(onSegment, event("segment_entered", T0, { properties: { segment: "vips" } }), facts)).toEqual({
      ok: false,
      reason: "not_an_event_trigger",
    });
  });
});

import { describe, expect, it } from "vitest";
import { type EnrollmentState, enroll, mayEnroll, step, triggerMatches } from "../../src/flows/interpreter";
import { Flow } from "../../src/flows/schema";
import { contact, ctx, DAY, event, flow, HOUR, MIN, runToEnd, T0 } from "./fixtures";

const emailIds = (r: ReturnType<typeof runToEnd>) =>
  r.emails.map((e) => (e.effect.type === "queue_email" ? `${e.effect.stepId}@${(e.at - T0) / MIN}m` : ""));

const welcome = flow({
  id: "welcome",
  name: "Welcome",
  trigger: { event: "subscribed" },
  goal: { event: "order_placed", within: "14d" },
  exit_when: [{ event: "refunded" }],
  steps: [
    { id: "hello", type: "email", template: "w1" },
    { id: "pause", type: "wait", for: "2d" },
    { id: "value", type: "email", template: "w2" },
    { id: "seen", type: "wait_for", event: "email_opened", of: "value", timeout: "3d", then: "cta", else: "nudge" },
    { id: "nudge", type: "email", template: "w2-resend", next: "cta" },
    { id: "cta", type: "email", template: "w3" },
  ],
});

describe("email and wait steps", () => {
  it("sends the first email at once, waits, then follows the timeout path of an unanswered wait_for", () => {
    const r = runToEnd(welcome, T0);
    expect(emailIds(r)).toEqual(["hello@0m", `value@${2 * 24 * 60}m`, `nudge@${5 * 24 * 60}m`, `cta@${5 * 24 * 60}m`]);
    expect(r.state.status).toBe("completed");
    expect(r.state.endReason).toBe("completed");
  });

  it("takes the then path when the awaited open of that email arrives, and ignores opens of other emails", () => {
    let o = enroll(event("subscribed", T0), "occ", ctx(welcome, T0));
    o = step(o.state, { type: "timer" }, ctx(welcome, T0 + 2 * DAY));
    const valueMessage = o.state.sent.value;
    expect(valueMessage).toBeDefined();
    expect(o.state.stepId).toBe("seen");
    const other = step(
      o.state,
      { type: "event", event: event("email_opened", T0 + 2 * DAY + HOUR, { messageId: "msg_other" }) },
      ctx(welcome, T0 + 2 * DAY + HOUR),
    );
    expect(other.state.stepId).toBe("seen");
    const opened = step(
      o.state,
      { type: "event", event: event("email_opened", T0 + 2 * DAY + HOUR, { messageId: valueMessage ?? null }) },
      ctx(welcome, T0 + 2 * DAY + HOUR),
    );
    expect(opened.effects.filter((e) => e.type === "queue_email").map((e) => e.type === "queue_email" && e.stepId)).toEqual(["cta"]);
    expect(opened.state.status).toBe("completed");
  });

  it("never lets a machine open satisfy a wait_for", () => {
    let o = enroll(event("subscribed", T0), "occ", ctx(welcome, T0));
    o = step(o.state, { type: "timer" }, ctx(welcome, T0 + 2 * DAY));
    const machine = step(
      o.state,
      { type: "event", event: event("email_opened", T0 + 2 * DAY + MIN, { machine: true, messageId: o.state.sent.value ?? null }) },
      ctx(welcome, T0 + 2 * DAY + MIN),
    );
    expect(machine.state.stepId).toBe("seen");
    expect(machine.effects).toEqual([]);
  });

  it("produces the same message ids when the same input is applied twice (retried alarm)", () => {
    const first = enroll(event("subscribed", T0, { id: "evt_same" }), "evt_same", ctx(welcome, T0));
    const again = enroll(event("subscribed", T0, { id: "evt_same" }), "evt_same", ctx(welcome, T0));
    expect(again).toEqual(first);
    const t1 = step(first.state, { type: "timer" }, ctx(welcome, T0 + 2 * DAY));
    const t2 = step(first.state, { type: "timer" }, ctx(welcome, T0 + 2 * DAY));
    expect(t2.effects).toEqual(t1.effects);
  });

  it("does nothing on a timer that is not yet due", () => {
    const o = enroll(event("subscribed", T0), "occ", ctx(welcome, T0));
    const early = step(o.state, { type: "timer" }, ctx(welcome, T0 + DAY));
    expect(early.effects).toEqual([]);
    expect(early.state.stepId).toBe("pause");
  });

  it("waits until a time of day on given weekdays in the contact's zone", () => {
    const f = flow({
      name: "x",
      trigger: { event: "x" },
      steps: [
        { id: "w", type: "wait", until: { time: "09:00", weekdays: ["wed"] } },
        { id: "e", type: "email", template: "t" },
      ],
    });
    const r = runToEnd(f, T0, undefined, { contact: contact({ timezone: "America/New_York" }) });
    // Monday 12:00 UTC → Wednesday 09:00 New York (EST, UTC-5) = 14:00 UTC.
    expect(r.emails[0]?.at).toBe(Date.UTC(2026, 10, 25, 14, 0));
  });

  it("waits until a date attribute with an offset, and skips the wait when the attribute is missing", () => {
    const f = flow({
      name: "x",
      trigger: { event: "x" },
      steps: [
        { id: "w", type: "wait", until_attribute: { attribute: "webinar_at", offset: "-1h" } },
        { id: "e", type: "email", template: "t" },
      ],
    });
    const webinar = T0 + 3 * DAY;
    const r = runToEnd(f, T0, undefined, { contact: contact({ attributes: { webinar_at: new Date(webinar).toISOString() } }) });
    expect(r.emails[0]?.at).toBe(webinar - HOUR);
    expect(runToEnd(f, T0).emails[0]?.at).toBe(T0);
  });

  it("waits a number of units read from the triggering event, plus an offset, and skips the wait when the property is missing", () => {
    const f = flow({
      name: "x",
      trigger: { event: "order_placed" },
      steps: [
        { id: "w", type: "wait", for_property: { property: "replenish_days", unit: "d", offset: "-7d" } },
        { id: "e", type: "email", template: "t" },
      ],
    });
    const waitFor = (properties: Record<string, unknown>) => {
      const o = enroll(event("order_placed", T0, { properties }), "occ", ctx(f, T0));
      return o.state.wakeAt === null ? null : o.state.wakeAt - T0;
    };
    expect(waitFor({ replenish_days: 30 })).toBe(23 * DAY);
    expect(waitFor({ replenish_days: "10" })).toBe(3 * DAY);
    const sent = enroll(event("order_placed", T0, { properties: {} }), "occ", ctx(f, T0));
    expect(sent.effects.map((e) => e.type)).toEqual(["queue_email", "ended"]);
    expect(waitFor({ replenish_days: "soon" })).toBeNull();
  });

  it("reads a wait's length from a dotted event property, such as the first item's", () => {
    const f = flow({
      name: "x",
      trigger: { event: "order_placed" },
      steps: [
        { id: "w", type: "wait", for_property: { property: "items.0.replenish_days", unit: "d" } },
        { id: "e", type: "email", template: "t" },
      ],
    });
    const o = enroll(event("order_placed", T0, { properties: { items: [{ sku: "tea", replenish_days: 14 }] } }), "occ", ctx(f, T0));
    expect(o.state.wakeAt).toBe(T0 + 14 * DAY);
    const due = step(o.state, { type: "timer" }, ctx(f, T0 + 14 * DAY));
    expect(due.effects.map((e) => e.type)).toEqual(["queue_email", "ended"]);
  });

  it("accepts exactly one kind of wait, and only known units for for_property", () => {
    const parse = (wait: Record<string, unknown>) =>
      Flow.safeParse({ name: "x", trigger: { event: "x" }, steps: [{ id: "w", type: "wait", ...wait }] }).success;
    expect(parse({ for_property: { property: "replenish_days", unit: "d", offset: "-7d" } })).toBe(true);
    expect(parse({ for_property: { property: "replenish_days", unit: "days" } })).toBe(false);
    expect(parse({ for_property: { property: "replenish_days", unit: "d", offset: "-1 week" } })).toBe(false);
    expect(parse({ for: "1d", for_property: { property: "replenish_days", unit: "d" } })).toBe(false);
  });
});

describe("branches, splits and variants", () => {
  const branchy = flow({
    name: "b",
    trigger: { event: "x" },
    steps: [
      { id: "stage", type: "branch", if: { attr: "lifecycle_stage", op: "eq", value: "customer" }, then: "onboard", else: "educate" },
      { id: "educate", type: "email", template: "lead-1", next: "done" },
      { id: "onboard", type: "email", template: "cust-1" },
      { id: "done", type: "exit" },
    ],
  });

  it("branches on the contact's lifecycle stage", () => {
    const lead = runToEnd(branchy, T0, undefined, { contact: contact({ lifecycle_stage: "lead" }) });
    const customer = runToEnd(branchy, T0, undefined, { contact: contact({ lifecycle_stage: "customer" }) });
    expect(emailIds(lead)).toEqual(["educate@0m"]);
    expect(emailIds(customer)).toEqual(["onboard@0m"]);
    expect(customer.state.endReason).toBe("exit_step");
    // The exit step is the path's designed end: the email queued just before it is not taken back.
    expect(customer.log.map((l) => l.effect.type)).not.toContain("cancel_queued");
  });

  it("lets a later branch see what an update step changed", () => {
    const f = flow({
      name: "u",
      trigger: { event: "x" },
      steps: [
        { id: "tag", type: "update", add_tags: ["vip"], lifecycle_stage: "customer", set: { tier: "gold" } },
        { id: "check", type: "branch", if: { all: [{ tag: "vip" }, { attr: "tier", op: "eq", value: "gold" }] }, then: "yes", else: "no" },
        { id: "no", type: "exit" },
        { id: "yes", type: "email", template: "t" },
      ],
    });
    const r = runToEnd(f, T0);
    expect(r.log[0]?.effect).toEqual({
      type: "update_contact",
      stepId: "tag",
      set: { tier: "gold" },
      lifecycleStage: "customer",
      addTags: ["vip"],
    });
    expect(emailIds(r)).toEqual(["yes@0m"]);
  });

  it("splits contacts by weight, stably per enrollment", () => {
    const f = flow({
      name: "s",
      trigger: { event: "x" },
      steps: [
        {
          id: "s",
          type: "split",
          paths: [
            { weight: 50, next: "a" },
            { weight: 50, next: "b" },
          ],
        },
        { id: "a", type: "email", template: "a", next: "end" },
        { id: "b", type: "email", template: "b" },
        { id: "end", type: "exit" },
      ],
    });
    let a = 0;
    for (let i = 0; i < 2000; i++) {
      const o = enroll(event("x", T0), `occ-${i}`, ctx(f, T0, { contact: contact({ id: `ct_${i}` }) }));
      if (o.effects.some((e) => e.type === "queue_email" && e.stepId === "a")) a++;
    }
    expect(a / 2000).toBeGreaterThan(0.45);
    expect(a / 2000).toBeLessThan(0.55);
  });

  it("picks variants by weight and sends only the winner once one is recorded", () => {
    const f = flow({
      name: "v",
      trigger: { event: "x" },
      steps: [
        {
          id: "e",
          type: "email",
          variants: [
            { template: "a", weight: 1 },
            { template: "b", weight: 3 },
          ],
        },
      ],
    });
    const counts: Record<string, number> = {};
    for (let i = 0; i < 2000; i++) {
      const o = enroll(event("x", T0), `occ-${i}`, ctx(f, T0, { contact: contact({ id: `ct_${i}` }) }));
      for (const e of o.effects) if (e.type === "queue_email") counts[e.variant ?? ""] = (counts[e.variant ?? ""] ?? 0) + 1;
    }
    expect((counts.b ?? 0) / 2000).toBeGreaterThan(0.7);
    expect((counts.b ?? 0) / 2000).toBeLessThan(0.8);
    const won = enroll(event("x", T0), "occ-w", ctx(f, T0, { winners: { e: "a" } }));
    expect(won.effects.find((e) => e.type === "queue_email")).toMatchObject({ templateId: "a", variant: "a" });
  });
});

describe("goals and exits", () => {
  it("ends at the goal, counts a conversion and cancels queued messages", () => {
    const o = enroll(event("subscribed", T0), "occ", ctx(welcome, T0));
    const order = event("order_placed", T0 + DAY, { value: 42 });
    const done = step(o.state, { type: "event", event: order }, ctx(welcome, T0 + DAY));
    expect(done.effects.map((e) => e.type)).toEqual(["converted", "cancel_queued", "ended"]);
    expect(done.state).toMatchObject({ status: "completed", endReason: "goal", convertedAt: T0 + DAY });
  });

  it("does not count a goal reached after its window", () => {
    const f = flow({ ...welcome, steps: [{ id: "w", type: "wait", for: "30d" }] });
    const o = enroll(event("subscribed", T0), "occ", ctx(f, T0));
    const late = step(o.state, { type: "event", event: event("order_placed", T0 + 20 * DAY) }, ctx(f, T0 + 20 * DAY));
    expect(late.state.status).toBe("active");
  });

  it("exits on an exit_when event, and on unsubscribe for marketing flows only", () => {
    const o = enroll(event("subscribed", T0), "occ", ctx(welcome, T0));
    const refunded = step(o.state, { type: "event", event: event("refunded", T0 + HOUR) }, ctx(welcome, T0 + HOUR));
    expect(refunded.state).toMatchObject({ status: "exited", endReason: "exit_event" });
    expect(refunded.effects.map((e) => e.type)).toEqual(["cancel_queued", "ended"]);
    const unsub = step(o.state, { type: "event", event: event("unsubscribed", T0 + HOUR) }, ctx(welcome, T0 + HOUR));
    expect(unsub.state.endReason).toBe("unsubscribed");
    const transactional = flow({ ...welcome, settings: { transactional: true } });
    const t = enroll(event("subscribed", T0), "occ", ctx(transactional, T0));
    expect(step(t.state, { type: "event", event: event("unsubscribed", T0 + HOUR) }, ctx(transactional, T0 + HOUR)).state.status).toBe(
      "active",
    );
  });

  it("sends no marketing email to an unsubscribed or suppressed contact, but still sends transactional mail", () => {
    expect(runToEnd(welcome, T0, undefined, { contact: contact({ consent: "unsubscribed" }) })).toMatchObject({
      emails: [],
      state: { endReason: "unsubscribed" },
    });
    expect(runToEnd(welcome, T0, undefined, { contact: contact({ suppressed: true }) }).state.endReason).toBe("suppressed");
    const transactional = flow({ ...welcome, goal: undefined, settings: { transactional: true } });
    const r = runToEnd(transactional, T0, undefined, { contact: contact({ consent: "unsubscribed" }) });
    expect(r.emails[0]?.effect).toMatchObject({ kind: "transactional" });
  });
});

describe("quiet hours", () => {
  const quiet = flow({
    name: "q",
    trigger: { event: "x" },
    settings: { quiet_hours: { start: "21:00", end: "08:00" }, timezone: "Europe/Paris" },
    steps: [{ id: "e", type: "email", template: "t" }],
  });

  it("holds an email due inside quiet hours until they end, across midnight, in the contact's zone", () => {
    // 22:30 UTC = 23:30 Paris (quiet) → 08:00 Paris next day = 07:00 UTC.
    const late = Date.UTC(2026, 10, 23, 22, 30);
    expect(runToEnd(quiet, late).emails[0]?.at).toBe(Date.UTC(2026, 10, 24, 7, 0));
    // The same instant is 14:30 in Los Angeles: sent at once.
    expect(runToEnd(quiet, late, undefined, { contact: contact({ timezone: "America/Los_Angeles" }) }).emails[0]?.at).toBe(late);
    // 03:00 UTC is 04:00 Paris (after midnight, still quiet) → 08:00 Paris the same day.
    const early = Date.UTC(2026, 10, 24, 3, 0);
    expect(runToEnd(quiet, early).emails[0]?.at).toBe(Date.UTC(2026, 10, 24, 7, 0));
  });

  it("uses the offset in force after a daylight-saving change", () => {
    // New York springs forward on 8 March 2026: 07:00 local is 12:00 UTC on the 7th, 11:00 UTC on the 8th.
    const f = flow({ ...quiet, settings: { quiet_hours: { start: "20:00", end: "07:00" } } });
    const night = Date.UTC(2026, 2, 8, 3, 0); // 22:00 EST on the 7th
    const r = runToEnd(f, night, undefined, { contact: contact({ timezone: "America/New_York" }) });
    expect(r.emails[0]?.at).toBe(Date.UTC(2026, 2, 8, 11, 0));
  });
});

describe("frequency cap", () => {
  const capped = (onCap?: "wait" | "skip") =>
    flow({
      name: "c",
      trigger: { event: "x" },
      settings: { frequency_cap: { max: 1, per: "16h", ...(onCap ? { on_cap: onCap } : {}) } },
      steps: [
        { id: "e", type: "email", template: "t" },
        { id: "after", type: "email", template: "t2" },
      ],
    });

  it("holds a capped email until the window allows it (default)", () => {
    const r = runToEnd(capped(), T0, undefined, { marketingSends: [T0 - 10 * HOUR] });
    expect(emailIds(r)).toEqual([`e@${6 * 60}m`, `after@${22 * 60}m`]);
  });

  it("skips a capped email with on_cap skip", () => {
    const r = runToEnd(capped("skip"), T0, undefined, { marketingSends: [T0 - HOUR] });
    expect(emailIds(r)).toEqual([]);
    expect(r.log.filter((l) => l.effect.type === "skipped")).toHaveLength(2);
  });
});

describe("re-entry", () => {
  const base = { name: "r", trigger: { event: "x" }, steps: [{ id: "e", type: "email", template: "t" }] };
  const ended = [{ status: "completed" as const, enteredAt: T0 }];
  it("never lets a contact in twice with reentry never, nor while an enrollment is active", () => {
    expect(mayEnroll(flow(base), [], T0)).toEqual({ ok: true });
    expect(mayEnroll(flow(base), ended, T0 + 100 * DAY)).toEqual({ ok: false, reason: "reentry_never" });
    expect(mayEnroll(flow({ ...base, reentry: "after_exit" }), [{ status: "active", enteredAt: T0 }], T0 + DAY)).toEqual({
      ok: false,
      reason: "already_enrolled",
    });
    expect(mayEnroll(flow({ ...base, reentry: "after_exit" }), ended, T0 + MIN)).toEqual({ ok: true });
  });
  it("lets a contact back in after a cooldown", () => {
    const f = flow({ ...base, reentry: { cooldown: "7d" } });
    expect(mayEnroll(f, ended, T0 + 6 * DAY)).toEqual({ ok: false, reason: "reentry_cooldown" });
    expect(mayEnroll(f, ended, T0 + 7 * DAY)).toEqual({ ok: true });
  });
});

describe("triggers", () => {
  const facts = { contact: contact(), now: T0, countEvents: () => 0 };
  it("matches an event trigger with a condition on its properties, never a machine event", () => {
    const f = flow({
      name: "t",
      trigger: { event: "checkout_started", where: { prop: "cart_value", op: "gte", value: 50 } },
      steps: [{ id: "e", type: "exit" }],
    });
    expect(triggerMatches(f, event("checkout_started", T0, { properties: { cart_value: 80 } }), facts)).toEqual({ ok: true });
    expect(triggerMatches(f, event("checkout_started", T0, { properties: { cart_value: 20 } }), facts)).toEqual({
      ok: false,
      reason: "where_false",
    });
    expect(triggerMatches(f, event("checkout_started", T0, { properties: { cart_value: 80 }, machine: true }), facts)).toEqual({
      ok: false,
      reason: "machine_event",
    });
  });
  it("matches attribute_changed on the named attribute with a condition on the new value", () => {
    const f = flow({
      name: "t",
      trigger: { attribute_changed: "lifecycle_stage", where: { prop: "to", op: "eq", value: "customer" } },
      steps: [{ id: "e", type: "exit" }],
    });
    const changed = (properties: Record<string, string>) => triggerMatches(f, event("attribute_changed", T0, { properties }), facts);
    expect(changed({ attribute: "lifecycle_stage", to: "customer" })).toEqual({ ok: true });
    expect(changed({ attribute: "lifecycle_stage", to: "lead" })).toEqual({ ok: false, reason: "where_false" });
    expect(changed({ attribute: "plan", to: "customer" })).toEqual({ ok: false, reason: "other_attribute" });
    expect(triggerMatches(f, event("lifecycle_stage", T0), facts)).toEqual({ ok: false, reason: "other_event" });
  });
});

describe("paused and edited flows", () => {
  it("holds enrollments of a paused flow where they are and resumes them when active again", () => {
    const o = enroll(event("subscribed", T0), "occ", ctx(welcome, T0));
    const paused = step(o.state, { type: "timer" }, ctx(welcome, T0 + 2 * DAY, { active: false }));
    expect(paused.effects).toEqual([]);
    expect(paused.state).toMatchObject({ stepId: "value", phase: "enter" });
    const resumed = step(paused.state, { type: "timer" }, ctx(welcome, T0 + 3 * DAY));
    expect(resumed.effects.find((e) => e.type === "queue_email")).toMatchObject({ stepId: "value", dueAt: T0 + 3 * DAY });
  });

  it("keeps an enrollment on a step that still exists and exits it with step_removed when its step is gone", () => {
    const o = enroll(event("subscribed", T0), "occ", ctx(welcome, T0));
    const edited = flow({ ...welcome, steps: welcome.steps.filter((s) => s.id !== "hello") });
    const kept = step(o.state, { type: "timer" }, ctx(edited, T0 + 2 * DAY, { flowVersion: 2 }));
    expect(kept.state).toMatchObject({ stepId: "seen", flowVersion: 2 });
    const removed = flow({ ...welcome, steps: welcome.steps.filter((s) => s.id !== "pause") });
    const gone = step(o.state, { type: "timer" }, ctx(removed, T0 + 2 * DAY, { flowVersion: 2 }));
    expect(gone.state).toMatchObject({ status: "exited", endReason: "step_removed" });
  });
});

describe("notify and webhook", () => {
  it("notifies the address held in a contact attribute, and skips when there is none", () => {
    const f = flow({
      name: "n",
      trigger: { event: "page_viewed" },
      steps: [
        { id: "alert", type: "notify", to_attribute: "owner_email", template: "rep-alert" },
        { id: "hook", type: "webhook", url: "https://crm.example/hook", body: { source: "nurture" } },
      ],
    });
    const r = runToEnd(f, T0, undefined, { contact: contact({ attributes: { owner_email: "Rep@Shop.example" } }) });
    expect(r.log.map((l) => l.effect)).toMatchObject([
      { type: "notify", to: "rep@shop.example", templateId: "rep-alert" },
      { type: "webhook", url: "https://crm.example/hook", body: { source: "nurture", step_id: "hook", contact_id: "ct_1" } },
      { type: "ended", reason: "completed" },
    ]);
    expect(runToEnd(f, T0).log[0]?.effect).toEqual({ type: "skipped", stepId: "alert", reason: "no_recipient" });
  });
});

describe("state shape", () => {
  it("never moves an ended enrollment", () => {
    const done: EnrollmentState = { ...enroll(event("x", T0), "o", ctx(welcome, T0)).state, status: "exited" };
    const later = ctx(welcome, T0 + 10 * DAY);
    expect(step(done, { type: "timer" }, later)).toEqual({ state: done, effects: [], contact: later.contact, marketingSends: [] });
  });
});

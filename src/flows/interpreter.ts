/**
 * The flow interpreter: every rule of SPEC section 4, as a pure function of
 * (enrollment state, flow, contact, input, now) → (new state, effects). It
 * reads no clock, storage or network; the ContactTimer Durable Object carries
 * out the effects and keeps the timers. Messages, webhooks and enrollments get
 * ids derived from stable inputs, so running the same input twice yields the
 * same effects and the shell's `ON CONFLICT DO NOTHING` makes them happen once.
 * It never mutates its inputs: what a run changes (the contact's facts after an
 * `update`, the marketing sends for the frequency cap) comes back in the Outcome,
 * and its rules answer with tagged reasons (`Verdict`), not bare booleans.
 */
import {
  asNumber,
  type ConditionContext,
  type ContactFacts,
  contactAttribute,
  type EventFacts,
  evaluateCondition,
  eventProperty,
} from "./conditions";
import { durationMs, offsetMs, unitMs } from "./duration";
import { pickWeighted, stableDraw, stableId } from "./ids";
import { dateAttributeInstant, nextTimeOfDay, outsideQuietHours } from "./schedule";
import type { BehaviourCondition, Flow, Step, StepOf } from "./schema";
import { successors } from "./successors";

/** The event that started an enrollment or reached it. */
export interface FlowEvent extends EventFacts {
  id: string;
  machine: boolean;
  messageId: string | null;
  /** Where the event came from (`snippet`: the public site key); absent for the engine's own trigger events. */
  source?: string;
}

/** Why an enrollment ended. */
export type EndReason =
  | "completed"
  | "exit_step"
  | "exit_event"
  | "goal"
  | "unsubscribed"
  | "not_subscribed"
  | "suppressed"
  | "step_removed"
  | "flow_deleted"
  | "step_limit"
  /** Taken out of the flow by hand (API or dashboard). */
  | "removed";

/** One contact's progress through one flow; kept by the ContactTimer, mirrored to D1. */
export interface EnrollmentState {
  id: string;
  flowId: string;
  flowVersion: number;
  status: "active" | "exited" | "completed";
  /** The step it is at; null once ended. */
  stepId: string | null;
  /** `enter`: the step has not run yet (held by a pause or a delay); `waiting`: the step runs and waits. */
  phase: "enter" | "waiting";
  /** When the current step wants to be looked at again; null when only an event can move it. */
  wakeAt: number | null;
  /** When the current step started waiting (wait_for counts events from here). */
  since: number;
  visits: Record<string, number>;
  /** The last message each email step sent, for `wait_for … of`. */
  sent: Record<string, string>;
  enteredAt: number;
  endedAt: number | null;
  endReason: EndReason | null;
  convertedAt: number | null;
  trigger: FlowEvent;
}

export type Effect =
  | {
      type: "queue_email";
      messageId: string;
      stepId: string;
      templateId: string;
      variant: string | null;
      /** A subject-line variant's subject (Liquid), replacing the template's; null keeps it. */
      subject: string | null;
      kind: "marketing" | "transactional";
      dueAt: number;
    }
  | { type: "notify"; messageId: string; stepId: string; templateId: string; to: string; dueAt: number }
  | {
      type: "update_contact";
      stepId: string;
      set?: Record<string, unknown>;
      increment?: Record<string, number>;
      lifecycleStage?: string;
      addTags?: string[];
      removeTags?: string[];
    }
  | { type: "webhook"; id: string; stepId: string; url: string; body: Record<string, unknown> }
  | { type: "skipped"; stepId: string; reason: "frequency_cap" | "no_recipient" }
  | { type: "cancel_queued" }
  | { type: "converted"; at: number; event: FlowEvent }
  | { type: "ended"; status: "exited" | "completed"; reason: EndReason };

/** Everything besides the enrollment that a step may depend on. */
export interface RunContext {
  now: number;
  flow: Flow;
  flowVersion: number;
  /** Paused flows hold enrollments where they are. */
  active: boolean;
  contact: ContactFacts;
  countEvents: (condition: BehaviourCondition) => number;
  /** Variants that won their A/B test: step id → template id. */
  winners: Readonly<Record<string, string>>;
  /** Due times of this contact's marketing emails across all flows (for the frequency cap). */
  marketingSends: readonly number[];
}

export type Input = { type: "event"; event: FlowEvent } | { type: "timer" };

export interface Outcome {
  state: EnrollmentState;
  effects: Effect[];
  /** The contact as the run's `update` steps left it (the input's facts when none ran). */
  contact: ContactFacts;
  /** `marketingSends` with the marketing emails this run queued added. */
  marketingSends: readonly number[];
}

/** A rule's answer: yes, or no with the reason why. */
export type Verdict<Reason extends string> = { ok: true } | { ok: false; reason: Reason };

const YES = { ok: true } as const;
const no = <Reason extends string>(reason: Reason) => ({ ok: false, reason }) as const;

/**
 * A run's working copy of what it may change. The interpreter's functions update this copy, never the caller's
 * RunContext, and hand it back in the Outcome.
 */
interface Run extends Omit<RunContext, "marketingSends"> {
  marketingSends: number[];
}

function startRun(ctx: RunContext): Run {
  return { ...ctx, marketingSends: [...ctx.marketingSends] };
}

/** Steps one input may run before the interpreter stops a runaway path (validation rejects loops without waits). */
const MAX_STEPS_PER_RUN = 100;

/** Why the flow's re-entry rule keeps a contact out: running in it now, `never` after a first time, or inside the cooldown. */
export type EntryRefusal = "already_enrolled" | "reentry_never" | "reentry_cooldown";

/** Can this contact enter the flow now, given their earlier enrollments in it? */
export function mayEnroll(
  flow: Flow,
  earlier: readonly Pick<EnrollmentState, "status" | "enteredAt">[],
  now: number,
): Verdict<EntryRefusal> {
  if (earlier.some((e) => e.status === "active")) return no("already_enrolled");
  if (earlier.length === 0) return YES;
  const reentry = flow.reentry ?? "never";
  if (reentry === "never") return no("reentry_never");
  if (reentry === "after_exit") return YES;
  const last = Math.max(...earlier.map((e) => e.enteredAt));
  return now - last >= durationMs(reentry.cooldown) ? YES : no("reentry_cooldown");
}

/** Why a contact may not be enrolled by hand now. */
export type HandEnrollmentRefusal = EntryRefusal | "unsubscribed" | "not_subscribed" | "suppressed";

/**
 * The flow's rules for a hand enrollment: re-entry as for a trigger, and, for a marketing flow, the consent and
 * suppression its emails would end the enrollment on anyway (refused up front, so the reason is the answer).
 */
export function mayEnrollByHand(
  flow: Flow,
  contact: ContactFacts,
  earlier: readonly Pick<EnrollmentState, "status" | "enteredAt">[],
  now: number,
): Verdict<HandEnrollmentRefusal> {
  const entry = mayEnroll(flow, earlier, now);
  if (!entry.ok) return entry;
  if (flow.settings?.transactional) return YES;
  if (contact.suppressed) return no("suppressed");
  if (contact.consent === "unsubscribed") return no("unsubscribed");
  if (contact.consent !== "subscribed") return no("not_subscribed");
  return YES;
}

/** The event names an event trigger starts on (one, or any of a list). */
export function triggerEventNames(trigger: Extract<Flow["trigger"], { event: unknown }>): string[] {
  return typeof trigger.event === "string" ? [trigger.event] : trigger.event;
}

/**
 * Why an event does not start a flow: a machine event (never), another event, a change of another attribute,
 * the trigger's `where` false, or a trigger the shell matches itself (segment, date, inactivity).
 */
export type TriggerMismatch = "machine_event" | "other_event" | "other_attribute" | "where_false" | "not_an_event_trigger";

/** Does an event start this flow? (Segment, date and inactivity triggers are matched by the shell.) */
export function triggerMatches(flow: Flow, event: FlowEvent, ctx: Omit<ConditionContext, "event">): Verdict<TriggerMismatch> {
  if (event.machine) return no("machine_event");
  const t = flow.trigger;
  if ("event" in t) {
    if (!triggerEventNames(t).includes(event.name)) return no("other_event");
  } else if ("attribute_changed" in t) {
    if (event.name !== "attribute_changed") return no("other_event");
    if (event.properties.attribute !== t.attribute_changed) return no("other_attribute");
  } else return no("not_an_event_trigger");
  return !t.where || evaluateCondition(t.where, { ...ctx, event }) ? YES : no("where_false");
}

/** A new enrollment for a trigger occurrence, run up to its first wait. */
export function enroll(trigger: FlowEvent, occurrence: string, input: RunContext): Outcome {
  const ctx = startRun(input);
  const first = ctx.flow.steps[0] as Step;
  const state: EnrollmentState = {
    id: stableId("enr", ctx.flow.id ?? "", ctx.contact.id, occurrence),
    flowId: ctx.flow.id ?? "",
    flowVersion: ctx.flowVersion,
    status: "active",
    stepId: first.id,
    phase: "enter",
    wakeAt: ctx.now,
    since: ctx.now,
    visits: {},
    sent: {},
    enteredAt: ctx.now,
    endedAt: null,
    endReason: null,
    convertedAt: null,
    trigger,
  };
  return advance(state, ctx, []);
}

/** Applies one input (an event about the contact, or a timer firing at `ctx.now`) to an enrollment. */
export function step(previous: EnrollmentState, input: Input, context: RunContext): Outcome {
  const ctx = startRun(context);
  if (previous.status !== "active") return unchanged(previous, ctx);
  const state: EnrollmentState = { ...previous, flowVersion: ctx.flowVersion, visits: { ...previous.visits }, sent: { ...previous.sent } };
  const effects: Effect[] = [];
  const current = ctx.flow.steps.find((s) => s.id === state.stepId);
  if (!current) return end(state, ctx, effects, "exited", "step_removed");

  if (input.type === "event") {
    const event = input.event;
    if (event.machine) return unchanged(previous, ctx);
    const marketing = !ctx.flow.settings?.transactional;
    if (marketing && event.name === "unsubscribed") return end(state, ctx, effects, "exited", "unsubscribed");
    const conditionCtx: ConditionContext = { contact: ctx.contact, event, now: ctx.now, countEvents: ctx.countEvents };
    const goal = ctx.flow.goal;
    if (
      goal &&
      goal.event === event.name &&
      (!goal.where || evaluateCondition(goal.where, conditionCtx)) &&
      (!goal.within || event.ts - state.enteredAt <= durationMs(goal.within))
    ) {
      state.convertedAt = ctx.now;
      effects.push({ type: "converted", at: ctx.now, event });
      return end(state, ctx, effects, "completed", "goal");
    }
    if (ctx.flow.exit_when?.some((x) => x.event === event.name && (!x.where || evaluateCondition(x.where, conditionCtx)))) {
      return end(state, ctx, effects, "exited", "exit_event");
    }
    if (current.type === "wait_for" && state.phase === "waiting" && waitedForEventArrived(current, state, event, conditionCtx)) {
      return moveTo(state, ctx, effects, successors(ctx.flow, indexOf(ctx.flow, current.id))[0]?.target);
    }
    return outcome(state, effects, ctx);
  }

  if (state.wakeAt === null || state.wakeAt > ctx.now) return outcome(state, effects, ctx);
  if (state.phase === "enter") return advance(state, ctx, effects);
  // Only wait and wait_for steps wait; a wait_for's timer is its timeout, which takes the `else` path.
  const exits = successors(ctx.flow, indexOf(ctx.flow, current.id));
  return moveTo(state, ctx, effects, (current.type === "wait_for" ? exits[1] : exits[0])?.target);
}

function waitedForEventArrived(s: StepOf<"wait_for">, state: EnrollmentState, event: FlowEvent, ctx: ConditionContext): boolean {
  if (event.name !== s.event || event.ts < state.since) return false;
  if (s.of !== undefined && (event.messageId === null || event.messageId !== state.sent[s.of])) return false;
  return !s.where || evaluateCondition(s.where, ctx);
}

function outcome(state: EnrollmentState, effects: Effect[], run: Run): Outcome {
  return { state, effects, contact: run.contact, marketingSends: run.marketingSends };
}

function unchanged(state: EnrollmentState, run: Run): Outcome {
  return outcome(state, [], run);
}

function indexOf(flow: Flow, id: string): number {
  return flow.steps.findIndex((s) => s.id === id);
}

function end(state: EnrollmentState, ctx: Run, effects: Effect[], status: "exited" | "completed", reason: EndReason): Outcome {
  // Exits and goals take back mail not sent yet. An `exit` step is the flow's own designed end, like its last
  // step: mail it queued on the way (an email just before it, one waiting for a retry) still goes out.
  if ((status === "exited" && reason !== "exit_step") || reason === "goal") effects.push({ type: "cancel_queued" });
  effects.push({ type: "ended", status, reason });
  return outcome({ ...state, status, stepId: null, wakeAt: null, endedAt: ctx.now, endReason: reason }, effects, ctx);
}

/** Leaves the current step for `target` (or completes the flow when there is none) and runs on from there. */
function moveTo(state: EnrollmentState, ctx: Run, effects: Effect[], target: string | undefined): Outcome {
  if (target === undefined) return end(state, ctx, effects, "completed", "completed");
  return advance({ ...state, stepId: target, phase: "enter", wakeAt: ctx.now, since: ctx.now }, ctx, effects);
}

/** Runs steps from the current one (in phase `enter`) until one waits, the flow ends, or a pause holds it. */
function advance(start: EnrollmentState, ctx: Run, effects: Effect[]): Outcome {
  let state = start;
  for (let ran = 0; ran < MAX_STEPS_PER_RUN; ran++) {
    const index = state.stepId === null ? -1 : indexOf(ctx.flow, state.stepId);
    const current = ctx.flow.steps[index];
    if (!current) return end(state, ctx, effects, "exited", "step_removed");
    if (!ctx.active) return outcome({ ...state, phase: "enter", wakeAt: ctx.now }, effects, ctx);
    const visits = (state.visits[current.id] ?? 0) + 1;
    const result = runStep(current, { ...state, visits: { ...state.visits, [current.id]: visits } }, ctx, effects, visits);
    // A step held back (quiet hours, frequency cap) has not been visited yet: it runs again when the hold ends.
    if (result.kind === "hold") return outcome({ ...state, phase: "enter", wakeAt: result.until }, effects, ctx);
    state = { ...state, visits: { ...state.visits, [current.id]: visits } };
    const following = successors(ctx.flow, index);
    if (result.kind === "end") return end(state, ctx, effects, result.status, result.reason);
    if (result.kind === "wait") return outcome({ ...state, phase: "waiting", wakeAt: result.until, since: ctx.now }, effects, ctx);
    const target = result.kind === "goto" ? result.target : following[0]?.target;
    if (target === undefined) return end(state, ctx, effects, "completed", "completed");
    state = { ...state, stepId: target, phase: "enter", wakeAt: ctx.now, since: ctx.now };
    if (result.kind === "next" && result.sent) state.sent = { ...state.sent, [current.id]: result.sent };
  }
  return end(state, ctx, effects, "exited", "step_limit");
}

type StepResult =
  | { kind: "next"; sent?: string }
  | { kind: "goto"; target: string | undefined }
  | { kind: "wait"; until: number | null }
  | { kind: "hold"; until: number }
  | { kind: "end"; status: "exited" | "completed"; reason: EndReason };

function timezoneOf(ctx: Run): string {
  return ctx.contact.timezone ?? ctx.flow.settings?.timezone ?? "UTC";
}

function runStep(s: Step, state: EnrollmentState, ctx: Run, effects: Effect[], visits: number): StepResult {
  const conditionCtx: ConditionContext = { contact: ctx.contact, event: state.trigger, now: ctx.now, countEvents: ctx.countEvents };
  switch (s.type) {
    case "email":
      return runEmail(s, state, ctx, effects, visits);
    case "wait": {
      const until = waitTarget(s, state.trigger, ctx);
      return until !== null && until > ctx.now ? { kind: "wait", until } : { kind: "next" };
    }
    case "wait_for":
      return { kind: "wait", until: ctx.now + durationMs(s.timeout) };
    case "branch": {
      const [then, otherwise] = successors(ctx.flow, indexOf(ctx.flow, s.id));
      return { kind: "goto", target: evaluateCondition(s.if, conditionCtx) ? then?.target : otherwise?.target };
    }
    case "split": {
      const chosen = pickWeighted(
        s.paths.map((p) => p.weight),
        stableDraw(state.id, s.id, visits),
      );
      return { kind: "goto", target: successors(ctx.flow, indexOf(ctx.flow, s.id))[chosen]?.target };
    }
    case "update":
      effects.push({
        type: "update_contact",
        stepId: s.id,
        ...(s.set ? { set: s.set } : {}),
        ...(s.increment ? { increment: s.increment } : {}),
        ...(s.lifecycle_stage ? { lifecycleStage: s.lifecycle_stage } : {}),
        ...(s.add_tags ? { addTags: s.add_tags } : {}),
        ...(s.remove_tags ? { removeTags: s.remove_tags } : {}),
      });
      ctx.contact = factsAfterUpdate(ctx.contact, s);
      return { kind: "next" };
    case "notify": {
      const to = s.to ?? contactAttribute(ctx.contact, s.to_attribute ?? "");
      if (typeof to !== "string" || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(to)) {
        effects.push({ type: "skipped", stepId: s.id, reason: "no_recipient" });
        return { kind: "next" };
      }
      effects.push({
        type: "notify",
        messageId: stableId("msg", state.id, s.id, visits),
        stepId: s.id,
        templateId: s.template,
        to: to.toLowerCase(),
        dueAt: ctx.now,
      });
      return { kind: "next" };
    }
    case "webhook":
      effects.push({
        type: "webhook",
        id: stableId("whk", state.id, s.id, visits),
        stepId: s.id,
        url: s.url,
        body: { ...(s.body ?? {}), flow_id: state.flowId, step_id: s.id, contact_id: ctx.contact.id, email: ctx.contact.email },
      });
      return { kind: "next" };
    case "exit":
      return { kind: "end", status: "exited", reason: "exit_step" };
  }
}

/** When a `wait` step is over; null when its date attribute or event property is missing (the wait is skipped). */
function waitTarget(s: StepOf<"wait">, trigger: FlowEvent, ctx: Run): number | null {
  if (s.for) return ctx.now + durationMs(s.for);
  if (s.for_property) {
    const amount = asNumber(eventProperty(trigger, s.for_property.property));
    return amount === null ? null : ctx.now + amount * unitMs(s.for_property.unit) + offsetMs(s.for_property.offset);
  }
  const tz = timezoneOf(ctx);
  if (s.until) return nextTimeOfDay(ctx.now, s.until.time, s.until.weekdays, tz);
  if (s.until_attribute) {
    const value = contactAttribute(ctx.contact, s.until_attribute.attribute);
    return dateAttributeInstant(
      value,
      { ...(s.until_attribute.at ? { at: s.until_attribute.at } : {}), offsetMs: offsetMs(s.until_attribute.offset) },
      tz,
    );
  }
  return null;
}

function runEmail(s: StepOf<"email">, state: EnrollmentState, ctx: Run, effects: Effect[], visits: number): StepResult {
  const settings = ctx.flow.settings ?? {};
  const marketing = !settings.transactional;
  if (marketing) {
    if (ctx.contact.suppressed) return { kind: "end", status: "exited", reason: "suppressed" };
    if (ctx.contact.consent === "unsubscribed") return { kind: "end", status: "exited", reason: "unsubscribed" };
    if (ctx.contact.consent !== "subscribed") return { kind: "end", status: "exited", reason: "not_subscribed" };
  }
  const sendAt = sendTime(ctx, marketing);
  if (sendAt === "skip") {
    effects.push({ type: "skipped", stepId: s.id, reason: "frequency_cap" });
    return { kind: "next" };
  }
  if (sendAt > ctx.now) return { kind: "hold", until: sendAt };

  const messageId = stableId("msg", state.id, s.id, visits);
  let templateId = s.template as string;
  let variant: string | null = null;
  let subject: string | null = null;
  if (s.variants) {
    const keys = s.variants.map((_, i) => variantKey(s, i));
    const won = keys.indexOf(ctx.winners[s.id] ?? "");
    const index =
      won >= 0
        ? won
        : pickWeighted(
            s.variants.map((v) => v.weight),
            stableDraw(state.id, s.id, "variant"),
          );
    const chosen = s.variants[index];
    if (chosen) {
      templateId = chosen.template ?? templateId;
      subject = chosen.subject ?? null;
      variant = keys[index] ?? null;
    }
  }
  effects.push({
    type: "queue_email",
    messageId,
    stepId: s.id,
    templateId,
    variant,
    subject,
    kind: marketing ? "marketing" : "transactional",
    dueAt: ctx.now,
  });
  if (marketing) ctx.marketingSends.push(ctx.now);
  return { kind: "next", sent: messageId };
}

/** The earliest instant from now that respects quiet hours and the frequency cap; "skip" when capped with on_cap skip. */
function sendTime(ctx: Run, marketing: boolean): number | "skip" {
  const { quiet_hours: quiet, frequency_cap: cap } = ctx.flow.settings ?? {};
  const tz = timezoneOf(ctx);
  let at = ctx.now;
  for (let round = 0; round < 8; round++) {
    if (quiet) at = outsideQuietHours(at, quiet, tz);
    if (!cap || !marketing) return at;
    const per = durationMs(cap.per);
    const inWindow = ctx.marketingSends.filter((t) => t > at - per && t <= at).sort((a, b) => a - b);
    if (inWindow.length < cap.max) return at;
    if (cap.on_cap === "skip") return "skip";
    at = (inWindow[inWindow.length - cap.max] as number) + per;
  }
  return at;
}

/**
 * How an email step's variant is named in messages, stats and A/B winners: its template id, or for a variant that
 * overrides the subject, `template#n` with n its position in `variants` (several of them share one template).
 */
export function variantKey(s: { template?: string; variants?: { template?: string; subject?: string }[] }, index: number): string {
  const v = s.variants?.[index];
  const template = v?.template ?? s.template ?? "";
  return v?.subject === undefined ? template : `${template}#${index + 1}`;
}

/** The value an `increment` adds to: the attribute when it is a number, else 0 (the store applies the same rule). */
export function incrementBase(value: unknown): number {
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

/** The contact as an `update` leaves it, so that later steps of the same run see the change. */
function factsAfterUpdate(contact: ContactFacts, s: StepOf<"update">): ContactFacts {
  const attributes = { ...contact.attributes };
  for (const [k, v] of Object.entries(s.set ?? {})) {
    if (v === null) delete attributes[k];
    else attributes[k] = v;
  }
  for (const [k, by] of Object.entries(s.increment ?? {})) attributes[k] = incrementBase(attributes[k]) + by;
  const tags = new Set(contact.tags);
  for (const t of s.add_tags ?? []) tags.add(t);
  for (const t of s.remove_tags ?? []) tags.delete(t);
  return { ...contact, attributes, lifecycle_stage: s.lifecycle_stage ?? contact.lifecycle_stage, tags: [...tags] };
}

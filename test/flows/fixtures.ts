/**
 * Builders shared by the pure flow tests: a contact, an event, a run context, and a helper that drives timers.
 * Run contexts and the states runToEnd passes on are deep-frozen, so every scenario also checks that the
 * interpreter never mutates its inputs (test modules are strict: writing to a frozen object throws).
 */
import type { ContactFacts } from "../../src/flows/conditions";
import { type EnrollmentState, enroll, type FlowEvent, type Outcome, type RunContext, step } from "../../src/flows/interpreter";
import { Flow } from "../../src/flows/schema";

export const T0 = Date.UTC(2026, 10, 23, 12, 0); // Monday 23 November 2026, 12:00 UTC
export const MIN = 60_000;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

export function contact(overrides: Partial<ContactFacts> = {}): ContactFacts {
  return {
    id: "ct_1",
    email: "ada@example.com",
    first_name: "Ada",
    last_name: null,
    timezone: null,
    consent: "subscribed",
    lifecycle_stage: null,
    attributes: {},
    tags: [],
    last_opened_at: null,
    last_clicked_at: null,
    last_order_at: null,
    orders_count: 0,
    total_spent: 0,
    unopened_streak: 0,
    created_at: T0 - 30 * DAY,
    suppressed: false,
    ...overrides,
  };
}

let eventCounter = 0;
export function event(name: string, ts: number, overrides: Partial<FlowEvent> = {}): FlowEvent {
  eventCounter++;
  return { id: `evt_${eventCounter}`, name, properties: {}, value: null, ts, machine: false, messageId: null, ...overrides };
}

/** Parses a flow through the schema, as the API would. */
export function flow(definition: unknown): Flow {
  return Flow.parse(definition);
}

/** Freezes a value and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

export function ctx(f: Flow, now: number, overrides: Partial<RunContext> = {}): RunContext {
  return deepFreeze({
    now,
    flow: f,
    flowVersion: 1,
    active: true,
    contact: contact(),
    countEvents: () => 0,
    winners: {},
    marketingSends: [],
    ...overrides,
  });
}

/** Enrolls, then fires every timer as it comes due until the enrollment ends or `until`; returns all effects with their times. */
export function runToEnd(f: Flow, start: number, until = start + 365 * DAY, overrides: Partial<RunContext> = {}) {
  const log: { at: number; effect: Outcome["effects"][number] }[] = [];
  let outcome = enroll(event("trigger", start), "occ-1", ctx(f, start, overrides));
  for (const e of outcome.effects) log.push({ at: start, effect: e });
  let state: EnrollmentState = deepFreeze(outcome.state);
  while (state.status === "active" && state.wakeAt !== null && state.wakeAt <= until) {
    const at = state.wakeAt;
    outcome = step(state, { type: "timer" }, ctx(f, at, overrides));
    for (const e of outcome.effects) log.push({ at, effect: e });
    state = deepFreeze(outcome.state);
  }
  return { state, log, emails: log.filter((l) => l.effect.type === "queue_email") };
}

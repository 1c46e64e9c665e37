/**
 * Simulation: what a flow would have done to one contact over a past window, by replaying the contact's stored
 * events through the same pure interpreter as live runs (`enroll`, `step`, `triggerMatches`, `mayEnroll`), with a
 * simulated clock that fires every timer at the instant it falls due. No I/O: the caller loads the contact and
 * their events; the result is only a description (nothing is sent or written).
 *
 * What a replay cannot know, and so does not do: events the simulated mail itself would have caused (opens and
 * clicks of emails never sent), events the flow's own `update` steps would have emitted, other flows' mail for
 * the frequency cap, and attribute values as they were in the past (the contact's current ones are used).
 */
import { behaviourSince, type ContactFacts, evaluateCondition } from "./conditions";
import {
  type EnrollmentState,
  enroll,
  type FlowEvent,
  mayEnroll,
  type Outcome,
  type RunContext,
  step,
  triggerMatches,
} from "./interpreter";
import type { BehaviourCondition, Flow } from "./schema";

/** One email the replay would have queued. */
export interface ReplayedEmail {
  stepId: string;
  kind: "email" | "notify";
  templateId: string;
  variant: string | null;
  /** A subject-line variant's subject (Liquid); null: the template's own. */
  subject: string | null;
  at: number;
}

/** One enrollment the replay made, as it stands at the window's end. */
export interface ReplayedEnrollment {
  state: EnrollmentState;
  emails: ReplayedEmail[];
}

/** What to replay: one contact, their events in time order, and the window (its end is "now"). */
export interface ReplayInput {
  flow: Flow;
  contact: ContactFacts;
  events: readonly FlowEvent[];
  from: number;
  to: number;
}

/** Timers one contact's replay may fire before it stops (a flow with short waits cannot spin for ever). */
const MAX_TIMERS_PER_CONTACT = 10_000;

/** Replays one contact's events through the flow; returns every enrollment it would have made. */
export function replayContact(input: ReplayInput): ReplayedEnrollment[] {
  const { flow, events, from, to } = input;
  // The contact as the flow's updates leave it, and the marketing sends so far: each run's Outcome replaces them.
  let contact: ContactFacts = input.contact;
  let marketingSends: readonly number[] = [];
  const enrollments: ReplayedEnrollment[] = [];
  const context = (now: number): RunContext => ({
    now,
    flow,
    flowVersion: 1,
    active: true,
    contact,
    countEvents: (c) => countEvents(events, c, contact, now),
    winners: {},
    marketingSends,
  });
  const record = (enrollment: ReplayedEnrollment, outcome: Outcome) => {
    enrollment.state = outcome.state;
    contact = outcome.contact;
    marketingSends = outcome.marketingSends;
    for (const e of outcome.effects) {
      if (e.type === "queue_email")
        enrollment.emails.push({
          stepId: e.stepId,
          kind: "email",
          templateId: e.templateId,
          variant: e.variant,
          subject: e.subject,
          at: e.dueAt,
        });
      if (e.type === "notify")
        enrollment.emails.push({ stepId: e.stepId, kind: "notify", templateId: e.templateId, variant: null, subject: null, at: e.dueAt });
    }
  };
  let timers = 0;
  const fireTimersUntil = (limit: number) => {
    while (timers < MAX_TIMERS_PER_CONTACT) {
      let next: ReplayedEnrollment | undefined;
      for (const e of enrollments) {
        const at = e.state.wakeAt;
        if (e.state.status === "active" && at !== null && at <= limit && (!next || at < (next.state.wakeAt as number))) next = e;
      }
      if (!next) return;
      timers++;
      record(next, step(next.state, { type: "timer" }, context(next.state.wakeAt as number)));
    }
  };
  for (const event of events) {
    if (event.ts < from || event.ts > to) continue;
    fireTimersUntil(event.ts);
    // As the ContactTimer does: running enrollments see the event first, then the trigger is matched.
    for (const e of enrollments) if (e.state.status === "active") record(e, step(e.state, { type: "event", event }, context(event.ts)));
    const facts = { contact, now: event.ts, countEvents: (c: BehaviourCondition) => countEvents(events, c, contact, event.ts) };
    if (
      !triggerMatches(flow, event, facts).ok ||
      !mayEnroll(
        flow,
        enrollments.map((e) => e.state),
        event.ts,
      ).ok
    )
      continue;
    const enrollment: ReplayedEnrollment = { state: undefined as unknown as EnrollmentState, emails: [] };
    record(enrollment, enroll(event, event.id, context(event.ts)));
    enrollments.push(enrollment);
  }
  fireTimersUntil(to);
  return enrollments;
}

/** A behavioural count over the loaded history, as `behaviourCountSql` counts in D1 (machine events never count). */
function countEvents(events: readonly FlowEvent[], c: BehaviourCondition, contact: ContactFacts, now: number): number {
  const since = behaviourSince(c, now);
  let n = 0;
  for (const e of events) {
    if (e.name !== c.event || e.machine || e.ts < since || e.ts > now) continue;
    if (!c.where || evaluateCondition(c.where, { contact, event: e, now, countEvents: () => 0 })) n++;
  }
  return n;
}

/** The numbers of a simulation, summed over contacts. */
export interface ReplaySummary {
  contactsEntered: number;
  entered: number;
  goalReached: number;
  stillActive: number;
  ended: Record<string, number>;
  /** Per step, in the flow's order: enrollments that ran it, and the emails it queued. */
  steps: { id: string; type: string; reached: number; emails: number }[];
}

/** Sums replayed enrollments into the simulation's numbers. */
export function summarise(flow: Flow, contacts: readonly ReplayedEnrollment[][]): ReplaySummary {
  const all = contacts.flat();
  const ended: Record<string, number> = {};
  for (const e of all) if (e.state.endReason) ended[e.state.endReason] = (ended[e.state.endReason] ?? 0) + 1;
  return {
    contactsEntered: contacts.filter((c) => c.length > 0).length,
    entered: all.length,
    goalReached: all.filter((e) => e.state.endReason === "goal").length,
    stillActive: all.filter((e) => e.state.status === "active").length,
    ended,
    steps: flow.steps.map((s) => ({
      id: s.id,
      type: s.type,
      reached: all.filter((e) => (e.state.visits[s.id] ?? 0) > 0).length,
      emails: all.reduce((n, e) => n + e.emails.filter((m) => m.stepId === s.id).length, 0),
    })),
  };
}

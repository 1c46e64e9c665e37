/**
 * ContactTimer: one Durable Object per contact, named by the contact id. It
 * serialises everything that happens to that contact: it matches the triggers
 * of active flows, runs the pure interpreter on each enrollment, carries out
 * the effects (through contact/enroll), and keeps every pending timer in its
 * own SQLite storage with one alarm set to the earliest. Nothing else touches
 * its storage.
 *
 * Idempotent end to end: an event id is processed once; enrollment and
 * message ids are derived from stable inputs, so a retried alarm or a
 * redelivered event never queues a message twice.
 */
import { DurableObject } from "cloudflare:workers";
import { openDatabase } from "../db/client";
import type { ContactEvent } from "../db/contact-event";
import { loadContactFacts } from "../db/contacts";
import type { StoredFlow } from "../db/flows";
import { findSegmentCondition } from "../db/segments";
import type { Config, Env } from "../env";
import { type ContactFacts, evaluateCondition } from "../flows/conditions";
import {
  type EnrollmentState,
  enroll,
  type FlowEvent,
  type HandEnrollmentRefusal,
  type Input,
  mayEnroll,
  mayEnrollByHand,
  type Outcome,
  type RunContext,
  step,
  triggerMatches,
} from "../flows/interpreter";
import { OCCURRENCE_GRACE_MS, timeTriggerOccurrence } from "../flows/time-trigger";
import { systemEvent } from "./changes";
import { applyEffects } from "./enroll";
import { conditionFacts, emptyLookups, type FlowLookups, loadFlows, prefetchCounts, prepare, triggeredBy } from "./flow-lookups";
import { storeEvents } from "./store-events";
import { TimerStorage } from "./timer-storage";
import { WebhookOutbox } from "./webhooks";

/** Processed event ids are kept this long for deduplication of redeliveries. */
const DEDUP_RETENTION_MS = 30 * 24 * 3600 * 1000;
/** The frequency cap looks back at most this far. */
const SEND_HISTORY_MS = 30 * 24 * 3600 * 1000;
/** Events that flows' own updates may emit while handling one input, before the object stops following them (and says so). */
const MAX_CHAINED_EVENTS = 50;

/** A time trigger (date or inactivity) the daily job found due for this contact. */
export interface ScheduledTrigger {
  contactId: string;
  flowId: string;
  /** Identifies the occurrence (e.g. the 2027 birthday), so it enrolls once. */
  occurrence: string;
  fireAt: number;
  event: { name: string; properties: Record<string, string | number | null> };
}

/** An enrollment as it crosses RPC: the plain fields (the triggering event's free-form properties stay in the object). */
export type EnrollmentSummary = Pick<
  EnrollmentState,
  "id" | "flowId" | "flowVersion" | "status" | "stepId" | "endReason" | "enteredAt" | "endedAt"
>;

/** What a hand enrollment came to: the enrollment (new, or the one this request made before), or why it was refused. */
export type HandEnrollment =
  | { enrolled: true; replayed: boolean; enrollment: EnrollmentSummary }
  | { enrolled: false; reason: HandEnrollmentRefusal | "no_contact" | "no_flow" | "flow_inactive" };

/** What one pass over the contact's state works with; flows and counts are loaded once per pass (flow-lookups). */
interface Pass extends FlowLookups {
  marketingSends: readonly number[];
  queue: FlowEvent[];
  dueNow: string[];
  /** Whether this pass stored webhooks, to be called when it ends. */
  webhooksQueued: boolean;
}

/**
 * The object's logic. The deployed class (src/index.ts) parses the config once and gives `sendNow`, which sends
 * through the pipeline: this folder decides what is due, it never sends or records sends itself.
 */
export abstract class ContactTimer extends DurableObject<Env> {
  private readonly storage: TimerStorage;
  private readonly webhooks: WebhookOutbox;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    ctx: DurableObjectState,
    env: Env,
    private readonly config: Config,
  ) {
    super(ctx, env);
    this.storage = new TimerStorage(ctx.storage.sql);
    this.webhooks = new WebhookOutbox(ctx.storage.sql, env, config);
    this.createTables();
  }

  private createTables(): void {
    this.storage.createTables();
    this.webhooks.createTable();
  }

  /** Runs one operation at a time: D1 calls yield the object, and two passes must never interleave on one enrollment. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.tail.then(work, work);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * Accepts the contact's events (already stored in D1); returns how many were new to this object and the
   * messages they queued that are due now, which the caller sends at once, batched with other contacts'.
   */
  async receiveEvents(batch: ContactEvent[]): Promise<{ accepted: number; duplicates: number; dueNow: string[] }> {
    return this.serial(async () => {
      const fresh = batch.filter((e) => !this.storage.hasReceived(e.id));
      const first = fresh[0];
      if (!first) return { accepted: 0, duplicates: batch.length, dueNow: [] };
      this.storage.remember("contact_id", first.contactId);
      const pass = await this.openPass(first.contactId);
      // Stable: events with the same time keep the order they were sent in.
      for (const event of [...fresh].sort((a, b) => a.ts - b.ts)) {
        pass.queue.push(toFlowEvent(event));
        await this.drain(pass);
        this.storage.keepReceived(event, pass.now);
      }
      this.storage.forgetReceivedBefore(pass.now - DEDUP_RETENTION_MS);
      const dueNow = await this.finish(pass);
      return { accepted: fresh.length, duplicates: batch.length - fresh.length, dueNow };
    });
  }

  /** Fires every due timer: waits that ended, held emails, time triggers, and webhook attempts. */
  override async alarm(): Promise<void> {
    await this.sendNow(await this.serial(() => this.runDue()));
    await this.deliverWebhooks();
  }

  /** Calls the webhooks that are due, then re-arms the alarm for their retries. */
  private async deliverWebhooks(): Promise<void> {
    await this.webhooks.deliverDue();
    await this.serial(() => this.scheduleAlarm());
  }

  /**
   * Sends messages that came due in a pass and records the sends. It runs after the pass's serial section,
   * because recording `email_sent` comes back into this object.
   */
  protected abstract sendNow(ids: string[]): Promise<void>;

  /** Wakes the enrollments a paused flow was holding. */
  async resumeFlow(contactId: string, flowId: string): Promise<void> {
    const dueNow = await this.serial(async () => {
      this.storage.remember("contact_id", contactId);
      this.storage.releaseFlow(flowId);
      return this.runDue();
    });
    await this.sendNow(dueNow);
  }

  /**
   * Enrolls the contact in an active flow now, by hand, under the flow's rules (re-entry, consent, suppression).
   * The request id names the occurrence, so the same request enrolls once.
   */
  async enrollByHand(contactId: string, flowId: string, requestId: string): Promise<HandEnrollment> {
    const result = await this.serial(async (): Promise<{ answer: HandEnrollment; dueNow: string[] }> => {
      this.storage.remember("contact_id", contactId);
      const occurrence = `manual:${requestId}`;
      const pass = await this.openPass(contactId);
      await loadFlows(pass, [flowId]);
      const flow = pass.flows.get(flowId);
      const refused = (reason: Extract<HandEnrollment, { enrolled: false }>["reason"]) => ({
        answer: { enrolled: false as const, reason },
        dueNow: [],
      });
      if (!pass.contact) return refused("no_contact");
      if (!flow) return refused("no_flow");
      await prepare(pass, flow);
      const trigger: FlowEvent = {
        id: occurrence,
        name: "enrolled_by_hand",
        properties: {},
        value: null,
        ts: pass.now,
        machine: false,
        messageId: null,
      };
      const outcome = enroll(trigger, occurrence, this.runContext(pass, flow));
      const before = this.storage.enrollment(outcome.state.id);
      if (before) return { answer: { enrolled: true, replayed: true, enrollment: summary(before) }, dueNow: [] };
      if (flow.status !== "active") return refused("flow_inactive");
      const verdict = mayEnrollByHand(flow.definition, pass.contact, this.storage.earlierEnrollments(flow.id), pass.now);
      if (!verdict.ok) return refused(verdict.reason);
      await this.commit(pass, flow, outcome, true);
      await this.drain(pass);
      return { answer: { enrolled: true, replayed: false, enrollment: summary(outcome.state) }, dueNow: await this.finish(pass) };
    });
    await this.sendNow(result.dueNow);
    return result.answer;
  }

  /** Ends the contact's running enrollment in the flow (exited, `removed`, its queued mail cancelled); null when none runs. */
  async removeFromFlow(contactId: string, flowId: string): Promise<EnrollmentSummary | null> {
    return this.serial(async () => {
      this.storage.remember("contact_id", contactId);
      const state = this.storage.runningEnrollmentIn(flowId);
      if (!state) return null;
      const pass = await this.openPass(contactId);
      await loadFlows(pass, [flowId]);
      const ended = await this.endEnrollment(pass, state, "removed");
      await this.finish(pass);
      return summary(ended);
    });
  }

  /** Records a time trigger found by the daily job; it enrolls once per occurrence, at its time. */
  async scheduleTrigger(trigger: ScheduledTrigger): Promise<void> {
    const dueNow = await this.serial(async () => {
      this.storage.remember("contact_id", trigger.contactId);
      this.storage.addTrigger(trigger.occurrence, trigger.flowId, trigger.fireAt, trigger.event);
      if (trigger.fireAt <= Date.now()) return this.runDue();
      await this.scheduleAlarm();
      return [];
    });
    await this.sendNow(dueNow);
  }

  /** The contact's enrollments as this object holds them, newest first. */
  async enrollmentStates(): Promise<EnrollmentState[]> {
    return this.storage.enrollments();
  }

  /** The events this object has received, oldest first. */
  async receivedEvents(): Promise<ContactEvent[]> {
    return this.storage.receivedEvents();
  }

  /** Erases everything this object holds (GDPR erase of the contact). */
  async erase(): Promise<void> {
    await this.serial(async () => {
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.createTables();
    });
  }

  private async openPass(contactId: string): Promise<Pass> {
    const now = Date.now();
    const db = openDatabase(this.env.DB);
    return {
      db,
      now,
      contact: await loadContactFacts(db, contactId),
      ...emptyLookups(),
      marketingSends: this.storage.marketingSendsSince(now - SEND_HISTORY_MS),
      queue: [],
      dueNow: [],
      webhooksQueued: false,
    };
  }

  /** Runs every enrollment and trigger whose time has come; returns the ids of messages it queued that are due now. */
  private async runDue(): Promise<string[]> {
    const contactId = this.storage.recall("contact_id");
    if (!contactId) return [];
    const now = Date.now();
    const due = this.storage.dueEnrollments(now);
    const triggers = this.storage.dueTriggers(now);
    if (due.length > 0 || triggers.length > 0) {
      const pass = await this.openPass(contactId);
      await loadFlows(pass, [...due.map((e) => e.flowId), ...triggers.map((t) => t.flow_id)]);
      for (const state of due) await this.runEnrollment(pass, state, { type: "timer" });
      for (const t of triggers) {
        const flow = pass.flows.get(t.flow_id);
        const event = JSON.parse(t.event) as { name: string; properties: Record<string, unknown> };
        if (flow?.status === "active" && this.stillCurrent(pass, flow, t.occurrence, t.fire_at)) {
          await this.tryEnroll(
            pass,
            flow,
            { id: t.occurrence, ...event, value: null, ts: t.fire_at, machine: false, messageId: null },
            t.occurrence,
          );
        }
        this.storage.forgetTrigger(t.occurrence);
      }
      await this.drain(pass);
      return this.finish(pass);
    }
    await this.scheduleAlarm();
    return [];
  }

  /**
   * Whether a due time trigger still names the contact's occurrence. When its date moved since the scan (a new
   * order moves `last_order_at`, a new open ends an inactive spell) the old timer is dropped and the new date's
   * occurrence takes its place, unless it is already past.
   */
  private stillCurrent(pass: Pass, flow: StoredFlow, occurrence: string, firedAt: number): boolean {
    if (!pass.contact) return false;
    const zone = flow.definition.settings?.timezone ?? "UTC";
    const current = timeTriggerOccurrence(flow.id, flow.definition.trigger, pass.contact, zone, firedAt);
    if (current?.occurrence === occurrence) return true;
    if (current && current.fireAt >= pass.now - OCCURRENCE_GRACE_MS) {
      this.storage.addTrigger(current.occurrence, flow.id, Math.max(current.fireAt, pass.now), current.event);
    }
    return false;
  }

  /** Processes queued events (the input event and any its effects emitted), each through enrollments and then triggers. */
  private async drain(pass: Pass): Promise<void> {
    for (let handled = 0; handled <= MAX_CHAINED_EVENTS; handled++) {
      const event = pass.queue.shift();
      if (!event) return;
      if (event.machine || !pass.contact) continue;
      const running = this.storage.runningEnrollments();
      await loadFlows(
        pass,
        running.map((e) => e.flowId),
      );
      for (const state of running) await this.runEnrollment(pass, state, { type: "event", event });

      const attribute =
        event.name === "attribute_changed" && typeof event.properties.attribute === "string" ? event.properties.attribute : null;
      for (const flow of await triggeredBy(pass, event.name, attribute)) {
        if (!mayStartFrom(flow, event, pass.contact)) continue;
        pass.flows.set(flow.id, flow);
        const def = flow.definition;
        if ("segment_entered" in def.trigger) await this.segmentTrigger(pass, flow, def.trigger.segment_entered, event);
        else {
          await prepare(pass, flow);
          if (triggerMatches(def, event, conditionFacts(pass)).ok) await this.tryEnroll(pass, flow, event, event.id);
        }
      }
    }
    if (pass.queue.length > 0) await this.stopChain(pass);
  }

  /**
   * Drops the events flows kept emitting past the cap (their updates triggering one another, round after round)
   * and says so: logged, and a `chain_limit_reached` event on the contact's timeline names what was not followed.
   */
  private async stopChain(pass: Pass): Promise<void> {
    const dropped = pass.queue.splice(0);
    if (!pass.contact) return;
    const properties = {
      limit: MAX_CHAINED_EVENTS,
      dropped: dropped.length,
      names: [...new Set(dropped.map((e) => e.name))].slice(0, 10),
      first_dropped_id: dropped[0]?.id ?? null,
    };
    console.error(JSON.stringify({ msg: "chained events past the cap were not processed", contact_id: pass.contact.id, ...properties }));
    // Stamped when the chain stopped, so the timeline shows it after the events that led to it.
    await storeEvents(pass.db, this.config, [systemEvent(pass.contact.id, "chain_limit_reached", properties, Date.now())], pass.now);
  }

  private async segmentTrigger(pass: Pass, flow: StoredFlow, segmentId: string, event: FlowEvent): Promise<void> {
    const condition = await findSegmentCondition(pass.db, segmentId);
    if (!condition || !pass.contact) return;
    await prefetchCounts(pass, [condition]);
    const member = evaluateCondition(condition, { ...conditionFacts(pass), event });
    const wasMember = this.storage.swapSegmentMembership(segmentId, member);
    if (member && wasMember !== true) {
      await this.tryEnroll(
        pass,
        flow,
        { ...event, name: "segment_entered", properties: { segment: segmentId } },
        `segment:${segmentId}:${event.id}`,
      );
    }
  }

  private async tryEnroll(pass: Pass, flow: StoredFlow, trigger: FlowEvent, occurrence: string): Promise<void> {
    if (!mayEnroll(flow.definition, this.storage.earlierEnrollments(flow.id), pass.now).ok || !pass.contact) return;
    await prepare(pass, flow);
    const outcome = enroll(trigger, occurrence, this.runContext(pass, flow));
    if (this.storage.enrollment(outcome.state.id)) return;
    await this.commit(pass, flow, outcome, true);
  }

  private async runEnrollment(pass: Pass, state: EnrollmentState, input: Input): Promise<void> {
    const flow = pass.flows.get(state.flowId);
    if (!pass.contact) return;
    if (!flow) {
      await this.endEnrollment(pass, state, "flow_deleted");
      return;
    }
    await prepare(pass, flow);
    const outcome = step(state, input, this.runContext(pass, flow));
    if (outcome.effects.length === 0 && JSON.stringify(outcome.state) === JSON.stringify(state)) {
      if (flow.status !== "active") this.storage.hold(state.id);
      return;
    }
    await this.commit(pass, flow, outcome);
  }

  /** Ends a running enrollment from outside the flow (its flow deleted, or removed by hand), cancelling its queued mail. */
  private async endEnrollment(pass: Pass, state: EnrollmentState, reason: "flow_deleted" | "removed"): Promise<EnrollmentState> {
    const ended: EnrollmentState = { ...state, status: "exited", stepId: null, wakeAt: null, endedAt: pass.now, endReason: reason };
    await this.commit(pass, pass.flows.get(state.flowId) ?? { id: state.flowId, name: state.flowId, status: "paused" }, {
      state: ended,
      effects: [{ type: "cancel_queued" }, { type: "ended", status: "exited", reason }],
      contact: pass.contact as ContactFacts,
      marketingSends: pass.marketingSends,
    });
    return ended;
  }

  /** Effects first (idempotent in D1), then this object's state: a crash in between repeats the same effects harmlessly. */
  private async commit(pass: Pass, flow: Pick<StoredFlow, "id" | "name" | "status">, outcome: Outcome, entered = false): Promise<void> {
    if (!pass.contact) return;
    const applied = await applyEffects(this.config, pass.db, pass.contact, flow, outcome.state, outcome.effects, pass.now, entered);
    for (const m of applied.marketing) {
      this.storage.keepMarketingSend(m.messageId, m.at);
    }
    // The interpreter hands back the sends it added instead of changing the pass's list: later runs of this pass see them.
    pass.marketingSends = outcome.marketingSends;
    this.storage.saveEnrollment(outcome.state, flow.status !== "active");
    // Stored with the state that moved past the webhook step, in the same synchronous write: neither is lost alone.
    if (applied.webhooks.length > 0) {
      this.webhooks.enqueue(pass.contact.id, flow.id, applied.webhooks, pass.now);
      pass.webhooksQueued = true;
    }
    pass.dueNow.push(...applied.dueNow);
    if (applied.emitted.length > 0) {
      pass.queue.push(...applied.emitted.map(toFlowEvent));
      pass.contact = await loadContactFacts(pass.db, pass.contact.id);
    }
  }

  /**
   * Ends a pass: starts calling the webhooks it stored (the alarm retries what fails), re-arms the alarm, and
   * returns the messages it queued that are due now.
   */
  private async finish(pass: Pass): Promise<string[]> {
    if (pass.webhooksQueued) this.ctx.waitUntil(this.deliverWebhooks());
    await this.scheduleAlarm();
    return pass.dueNow;
  }

  private async scheduleAlarm(): Promise<void> {
    const timerAt = this.storage.earliestTimer();
    const due = [timerAt, this.webhooks.nextAttemptAt()].filter((at): at is number => typeof at === "number");
    const next = due.length > 0 ? Math.min(...due) : null;
    // Touch the alarm only when it changes: setting or clearing it is far dearer than reading it.
    const current = await this.ctx.storage.getAlarm();
    if (next === null) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
    } else if (current !== next) await this.ctx.storage.setAlarm(next);
  }

  private runContext(pass: Pass, flow: StoredFlow): RunContext {
    return {
      ...conditionFacts(pass),
      contact: { ...(pass.contact as ContactFacts) },
      flow: { ...flow.definition, id: flow.id },
      flowVersion: flow.version,
      active: flow.status === "active",
      winners: pass.winners.get(flow.id) ?? {},
      marketingSends: pass.marketingSends,
    };
  }
}

function summary(s: EnrollmentState): EnrollmentSummary {
  const { id, flowId, flowVersion, status, stepId, endReason, enteredAt, endedAt } = s;
  return { id, flowId, flowVersion, status, stepId, endReason, enteredAt, endedAt };
}

function toFlowEvent(e: ContactEvent): FlowEvent {
  const { id, name, properties, value, ts, machine, messageId, source } = e;
  return { id, name, properties, value, ts, machine, messageId, source };
}

/**
 * Behind the rule that the site key links no browser without proof: a snippet event of a contact who never
 * confirmed starts no transactional or notify flow, the mail a stranger could otherwise aim at anyone.
 */
function mayStartFrom(flow: StoredFlow, event: FlowEvent, contact: ContactFacts): boolean {
  if (event.source !== "snippet" || contact.consent !== "pending") return true;
  return !flow.definition.settings?.transactional && !flow.definition.steps.some((s) => s.type === "notify");
}

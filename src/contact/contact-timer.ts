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
import { sql } from "drizzle-orm";
import { type Database, openDatabase } from "../db/client";
import { behaviourCountSql } from "../db/conditions";
import type { ContactEvent } from "../db/contact-event";
import { loadContactFacts } from "../db/contacts";
import { activeFlowsTriggeredBy, flowsByIds, type StoredFlow } from "../db/flows";
import { findSegmentCondition } from "../db/segments";
import type { Config, Env } from "../env";
import { behaviourConditions, type ContactFacts, evaluateCondition } from "../flows/conditions";
import {
  type EnrollmentState,
  enroll,
  type FlowEvent,
  type HandEnrollmentRefusal,
  handEnrollmentRefusal,
  type Input,
  mayEnroll,
  type Outcome,
  type RunContext,
  step,
  triggerMatches,
} from "../flows/interpreter";
import type { BehaviourCondition, Condition } from "../flows/schema";
import { OCCURRENCE_GRACE_MS, timeTriggerOccurrence } from "../flows/time-trigger";
import { conditionsOf } from "../flows/validate";
import { loadWinners } from "../reports/abtest";
import { systemEvent } from "./changes";
import { applyEffects } from "./enroll";
import { storeEvents } from "./store-events";
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

/** What one pass over the contact's state works with; flows and counts are loaded once per pass. */
interface Pass {
  db: Database;
  now: number;
  contact: ContactFacts | undefined;
  flows: Map<string, StoredFlow | null>;
  /** Active flows each event name (and changed attribute) can start, looked up once per pass. */
  triggered: Map<string, StoredFlow[]>;
  counts: Map<string, number>;
  /** A/B winners per flow: step id → template id. */
  winners: Map<string, Record<string, string>>;
  marketingSends: number[];
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
  private readonly sql: SqlStorage;
  private readonly webhooks: WebhookOutbox;
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    ctx: DurableObjectState,
    env: Env,
    private readonly config: Config,
  ) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.webhooks = new WebhookOutbox(this.sql, env, config);
    this.createTables();
  }

  private createTables(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS received_events (
      id TEXT PRIMARY KEY, name TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL, received_at INTEGER NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
    this.sql.exec(`CREATE TABLE IF NOT EXISTS enrollments (
      id TEXT PRIMARY KEY, flow_id TEXT NOT NULL, status TEXT NOT NULL, wake_at INTEGER, held INTEGER NOT NULL DEFAULT 0,
      entered_at INTEGER NOT NULL, state TEXT NOT NULL)`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS enrollments_wake ON enrollments (status, held, wake_at)");
    this.sql.exec("CREATE INDEX IF NOT EXISTS enrollments_flow ON enrollments (flow_id)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS marketing_sends (message_id TEXT PRIMARY KEY, at INTEGER NOT NULL)");
    this.sql.exec("CREATE TABLE IF NOT EXISTS segment_membership (segment_id TEXT PRIMARY KEY, member INTEGER NOT NULL)");
    this.sql.exec(`CREATE TABLE IF NOT EXISTS pending_triggers (
      occurrence TEXT PRIMARY KEY, flow_id TEXT NOT NULL, fire_at INTEGER NOT NULL, event TEXT NOT NULL)`);
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
      const fresh = batch.filter((e) => this.sql.exec("SELECT 1 FROM received_events WHERE id = ?", e.id).toArray().length === 0);
      const first = fresh[0];
      if (!first) return { accepted: 0, duplicates: batch.length, dueNow: [] };
      this.remember("contact_id", first.contactId);
      const pass = await this.openPass(first.contactId);
      // Stable: events with the same time keep the order they were sent in.
      for (const event of [...fresh].sort((a, b) => a.ts - b.ts)) {
        pass.queue.push(toFlowEvent(event));
        await this.drain(pass);
        this.sql.exec(
          "INSERT INTO received_events (id, name, ts, body, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
          event.id,
          event.name,
          event.ts,
          JSON.stringify(event),
          pass.now,
        );
      }
      this.sql.exec("DELETE FROM received_events WHERE received_at < ?", pass.now - DEDUP_RETENTION_MS);
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
      this.remember("contact_id", contactId);
      this.sql.exec("UPDATE enrollments SET held = 0 WHERE flow_id = ? AND status = 'active'", flowId);
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
      this.remember("contact_id", contactId);
      const occurrence = `manual:${requestId}`;
      const pass = await this.openPass(contactId);
      await this.loadFlows(pass, [flowId]);
      const flow = pass.flows.get(flowId);
      const refused = (reason: Extract<HandEnrollment, { enrolled: false }>["reason"]) => ({
        answer: { enrolled: false as const, reason },
        dueNow: [],
      });
      if (!pass.contact) return refused("no_contact");
      if (!flow) return refused("no_flow");
      await this.prepare(pass, flow);
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
      const before = this.enrollmentState(outcome.state.id);
      if (before) return { answer: { enrolled: true, replayed: true, enrollment: summary(before) }, dueNow: [] };
      if (flow.status !== "active") return refused("flow_inactive");
      const refusal = handEnrollmentRefusal(flow.definition, pass.contact, this.earlierEnrollments(flow.id), pass.now);
      if (refusal) return refused(refusal);
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
      this.remember("contact_id", contactId);
      const running = this.sql
        .exec<{ state: string }>("SELECT state FROM enrollments WHERE flow_id = ? AND status = 'active'", flowId)
        .toArray()[0];
      if (!running) return null;
      const pass = await this.openPass(contactId);
      await this.loadFlows(pass, [flowId]);
      const state = JSON.parse(running.state) as EnrollmentState;
      const ended = await this.endEnrollment(pass, state, "removed");
      await this.finish(pass);
      return summary(ended);
    });
  }

  /** Records a time trigger found by the daily job; it enrolls once per occurrence, at its time. */
  async scheduleTrigger(trigger: ScheduledTrigger): Promise<void> {
    const dueNow = await this.serial(async () => {
      this.remember("contact_id", trigger.contactId);
      this.sql.exec(
        "INSERT INTO pending_triggers (occurrence, flow_id, fire_at, event) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        trigger.occurrence,
        trigger.flowId,
        trigger.fireAt,
        JSON.stringify(trigger.event),
      );
      if (trigger.fireAt <= Date.now()) return this.runDue();
      await this.scheduleAlarm();
      return [];
    });
    await this.sendNow(dueNow);
  }

  /** The contact's enrollments as this object holds them, newest first. */
  async enrollmentStates(): Promise<EnrollmentState[]> {
    return this.sql
      .exec<{ state: string }>("SELECT state FROM enrollments ORDER BY entered_at DESC")
      .toArray()
      .map((r) => JSON.parse(r.state) as EnrollmentState);
  }

  /** The events this object has received, oldest first. */
  async receivedEvents(): Promise<ContactEvent[]> {
    return this.sql
      .exec<{ body: string }>("SELECT body FROM received_events ORDER BY ts, received_at")
      .toArray()
      .map((r) => JSON.parse(r.body) as ContactEvent);
  }

  /** Erases everything this object holds (GDPR erase of the contact). */
  async erase(): Promise<void> {
    await this.serial(async () => {
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.createTables();
    });
  }

  private remember(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value);
  }

  private recall(key: string): string | undefined {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  private async openPass(contactId: string): Promise<Pass> {
    const now = Date.now();
    const db = openDatabase(this.env.DB);
    this.sql.exec("DELETE FROM marketing_sends WHERE at < ?", now - SEND_HISTORY_MS);
    return {
      db,
      now,
      contact: await loadContactFacts(db, contactId),
      flows: new Map(),
      triggered: new Map(),
      counts: new Map(),
      winners: new Map(),
      marketingSends: this.sql
        .exec<{ at: number }>("SELECT at FROM marketing_sends")
        .toArray()
        .map((r) => r.at),
      queue: [],
      dueNow: [],
      webhooksQueued: false,
    };
  }

  /** Runs every enrollment and trigger whose time has come; returns the ids of messages it queued that are due now. */
  private async runDue(): Promise<string[]> {
    const contactId = this.recall("contact_id");
    if (!contactId) return [];
    const now = Date.now();
    const due = this.sql
      .exec<{ state: string }>("SELECT state FROM enrollments WHERE status = 'active' AND held = 0 AND wake_at <= ? ORDER BY wake_at", now)
      .toArray()
      .map((r) => JSON.parse(r.state) as EnrollmentState);
    const triggers = this.sql
      .exec<{ occurrence: string; flow_id: string; event: string; fire_at: number }>(
        "SELECT * FROM pending_triggers WHERE fire_at <= ?",
        now,
      )
      .toArray();
    if (due.length > 0 || triggers.length > 0) {
      const pass = await this.openPass(contactId);
      await this.loadFlows(pass, [...due.map((e) => e.flowId), ...triggers.map((t) => t.flow_id)]);
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
        this.sql.exec("DELETE FROM pending_triggers WHERE occurrence = ?", t.occurrence);
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
      this.sql.exec(
        "INSERT INTO pending_triggers (occurrence, flow_id, fire_at, event) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        current.occurrence,
        flow.id,
        Math.max(current.fireAt, pass.now),
        JSON.stringify(current.event),
      );
    }
    return false;
  }

  /** Processes queued events (the input event and any its effects emitted), each through enrollments and then triggers. */
  private async drain(pass: Pass): Promise<void> {
    for (let handled = 0; handled <= MAX_CHAINED_EVENTS; handled++) {
      const event = pass.queue.shift();
      if (!event) return;
      if (event.machine || !pass.contact) continue;
      const running = this.sql
        .exec<{ state: string }>("SELECT state FROM enrollments WHERE status = 'active'")
        .toArray()
        .map((r) => JSON.parse(r.state) as EnrollmentState);
      await this.loadFlows(
        pass,
        running.map((e) => e.flowId),
      );
      for (const state of running) await this.runEnrollment(pass, state, { type: "event", event });

      const attribute =
        event.name === "attribute_changed" && typeof event.properties.attribute === "string" ? event.properties.attribute : null;
      for (const flow of await this.triggeredBy(pass, event.name, attribute)) {
        if (!mayStartFrom(flow, event, pass.contact)) continue;
        pass.flows.set(flow.id, flow);
        const def = flow.definition;
        if ("segment_entered" in def.trigger) await this.segmentTrigger(pass, flow, def.trigger.segment_entered, event);
        else {
          await this.prepare(pass, flow);
          if (triggerMatches(def, event, this.conditionFacts(pass))) await this.tryEnroll(pass, flow, event, event.id);
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

  private async triggeredBy(pass: Pass, eventName: string, attribute: string | null): Promise<StoredFlow[]> {
    const key = `${eventName}\u0000${attribute ?? ""}`;
    let found = pass.triggered.get(key);
    if (!found) {
      found = await activeFlowsTriggeredBy(pass.db, eventName, attribute);
      pass.triggered.set(key, found);
    }
    return found;
  }

  private async segmentTrigger(pass: Pass, flow: StoredFlow, segmentId: string, event: FlowEvent): Promise<void> {
    const condition = await findSegmentCondition(pass.db, segmentId);
    if (!condition || !pass.contact) return;
    await this.prefetchCounts(pass, [condition]);
    const member = evaluateCondition(condition, { ...this.conditionFacts(pass), event });
    const before = this.sql.exec<{ member: number }>("SELECT member FROM segment_membership WHERE segment_id = ?", segmentId).toArray()[0];
    this.sql.exec(
      "INSERT INTO segment_membership (segment_id, member) VALUES (?, ?) ON CONFLICT(segment_id) DO UPDATE SET member = excluded.member",
      segmentId,
      member ? 1 : 0,
    );
    if (member && before?.member !== 1) {
      await this.tryEnroll(
        pass,
        flow,
        { ...event, name: "segment_entered", properties: { segment: segmentId } },
        `segment:${segmentId}:${event.id}`,
      );
    }
  }

  /** The contact's enrollments in the flow, for its re-entry rule. */
  private earlierEnrollments(flowId: string): Pick<EnrollmentState, "status" | "enteredAt">[] {
    return this.sql
      .exec<{ status: EnrollmentState["status"]; entered_at: number }>(
        "SELECT status, entered_at FROM enrollments WHERE flow_id = ?",
        flowId,
      )
      .toArray()
      .map((r) => ({ status: r.status, enteredAt: r.entered_at }));
  }

  private enrollmentState(id: string): EnrollmentState | undefined {
    const row = this.sql.exec<{ state: string }>("SELECT state FROM enrollments WHERE id = ?", id).toArray()[0];
    return row ? (JSON.parse(row.state) as EnrollmentState) : undefined;
  }

  private async tryEnroll(pass: Pass, flow: StoredFlow, trigger: FlowEvent, occurrence: string): Promise<void> {
    if (!mayEnroll(flow.definition, this.earlierEnrollments(flow.id), pass.now) || !pass.contact) return;
    await this.prepare(pass, flow);
    const outcome = enroll(trigger, occurrence, this.runContext(pass, flow));
    if (this.sql.exec("SELECT 1 FROM enrollments WHERE id = ?", outcome.state.id).toArray().length > 0) return;
    await this.commit(pass, flow, outcome, true);
  }

  private async runEnrollment(pass: Pass, state: EnrollmentState, input: Input): Promise<void> {
    const flow = pass.flows.get(state.flowId);
    if (!pass.contact) return;
    if (!flow) {
      await this.endEnrollment(pass, state, "flow_deleted");
      return;
    }
    await this.prepare(pass, flow);
    const outcome = step(state, input, this.runContext(pass, flow));
    if (outcome.effects.length === 0 && JSON.stringify(outcome.state) === JSON.stringify(state)) {
      if (flow.status !== "active") this.sql.exec("UPDATE enrollments SET held = 1 WHERE id = ?", state.id);
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
    });
    return ended;
  }

  /** Effects first (idempotent in D1), then this object's state: a crash in between repeats the same effects harmlessly. */
  private async commit(pass: Pass, flow: Pick<StoredFlow, "id" | "name" | "status">, outcome: Outcome, entered = false): Promise<void> {
    if (!pass.contact) return;
    const applied = await applyEffects(this.config, pass.db, pass.contact, flow, outcome.state, outcome.effects, pass.now, entered);
    for (const m of applied.marketing) {
      this.sql.exec("INSERT INTO marketing_sends (message_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING", m.messageId, m.at);
    }
    const s = outcome.state;
    this.sql.exec(
      `INSERT INTO enrollments (id, flow_id, status, wake_at, held, entered_at, state) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET status = excluded.status, wake_at = excluded.wake_at, held = excluded.held, state = excluded.state`,
      s.id,
      s.flowId,
      s.status,
      s.status === "active" ? s.wakeAt : null,
      flow.status === "active" ? 0 : 1,
      s.enteredAt,
      JSON.stringify(s),
    );
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
    const timerAt = this.sql
      .exec<{ at: number | null }>(
        `SELECT min(at) AS at FROM (
           SELECT min(wake_at) AS at FROM enrollments WHERE status = 'active' AND held = 0 AND wake_at IS NOT NULL
           UNION ALL SELECT min(fire_at) FROM pending_triggers)`,
      )
      .toArray()[0]?.at;
    const due = [timerAt, this.webhooks.nextAttemptAt()].filter((at): at is number => typeof at === "number");
    const next = due.length > 0 ? Math.min(...due) : null;
    // Touch the alarm only when it changes: setting or clearing it is far dearer than reading it.
    const current = await this.ctx.storage.getAlarm();
    if (next === null) {
      if (current !== null) await this.ctx.storage.deleteAlarm();
    } else if (current !== next) await this.ctx.storage.setAlarm(next);
  }

  private async loadFlows(pass: Pass, ids: string[]): Promise<void> {
    const missing = [...new Set(ids)].filter((id) => !pass.flows.has(id));
    if (missing.length === 0) return;
    const found = await flowsByIds(pass.db, missing);
    for (const id of missing) pass.flows.set(id, found.get(id) ?? null);
  }

  /** Loads what the interpreter may ask about a flow (behaviour counts, A/B winners), so that it can stay pure. */
  private async prepare(pass: Pass, flow: StoredFlow): Promise<void> {
    await this.prefetchCounts(pass, conditionsOf(flow.definition));
    const hasWinnerRule = flow.definition.steps.some((s) => s.type === "email" && s.winner);
    if (hasWinnerRule && !pass.winners.has(flow.id)) pass.winners.set(flow.id, await loadWinners(pass.db, flow.id));
  }

  /** Counts, in D1, the behavioural conditions the interpreter may ask about. */
  private async prefetchCounts(pass: Pass, conditions: Condition[]): Promise<void> {
    if (!pass.contact) return;
    const wanted = conditions.flatMap((c) => behaviourConditions(c)).filter((c) => !pass.counts.has(JSON.stringify(c)));
    for (const c of wanted) {
      const row = await pass.db.get<{ n: number }>(
        sql`SELECT ${behaviourCountSql(c, pass.now, sql.raw("c.id"))} AS n FROM contacts c WHERE c.id = ${pass.contact.id}`,
      );
      pass.counts.set(JSON.stringify(c), row?.n ?? 0);
    }
  }

  private conditionFacts(pass: Pass) {
    return {
      contact: pass.contact as ContactFacts,
      now: pass.now,
      countEvents: (c: BehaviourCondition) => pass.counts.get(JSON.stringify(c)) ?? 0,
    };
  }

  private runContext(pass: Pass, flow: StoredFlow): RunContext {
    return {
      ...this.conditionFacts(pass),
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

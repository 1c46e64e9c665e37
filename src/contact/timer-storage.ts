/**
 * A ContactTimer's own SQLite storage: the events it has received (for deduplication), what it remembers
 * (its contact's id), the contact's enrollments, recent marketing sends (for the frequency cap), segment
 * membership, and pending time triggers. Every statement on those tables is here; the outgoing webhooks keep
 * theirs in webhooks.ts.
 */
import type { ContactEvent } from "../db/contact-event";
import type { EnrollmentState } from "../flows/interpreter";

/** A time trigger waiting in the object for its time. */
export type PendingTrigger = {
  occurrence: string;
  flow_id: string;
  event: string;
  fire_at: number;
};

const states = (rows: { state: string }[]) => rows.map((r) => JSON.parse(r.state) as EnrollmentState);

/** The tables of one ContactTimer. */
export class TimerStorage {
  constructor(private readonly sql: SqlStorage) {}

  /** Creates the tables (again after an erase). */
  createTables(): void {
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
  }

  /** Keeps a value under a key (the contact's id, which the alarm needs). */
  remember(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value);
  }

  /** The value kept under a key. */
  recall(key: string): string | undefined {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value;
  }

  /** Whether an event of this id was received before. */
  hasReceived(id: string): boolean {
    return this.sql.exec("SELECT 1 FROM received_events WHERE id = ?", id).toArray().length > 0;
  }

  /** Keeps a processed event, so that a redelivery is recognised. */
  keepReceived(event: ContactEvent, at: number): void {
    this.sql.exec(
      "INSERT INTO received_events (id, name, ts, body, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING",
      event.id,
      event.name,
      event.ts,
      JSON.stringify(event),
      at,
    );
  }

  /** Forgets events received before this time. */
  forgetReceivedBefore(at: number): void {
    this.sql.exec("DELETE FROM received_events WHERE received_at < ?", at);
  }

  /** The events received, oldest first. */
  receivedEvents(): ContactEvent[] {
    return this.sql
      .exec<{ body: string }>("SELECT body FROM received_events ORDER BY ts, received_at")
      .toArray()
      .map((r) => JSON.parse(r.body) as ContactEvent);
  }

  /** Every enrollment, newest first. */
  enrollments(): EnrollmentState[] {
    return states(this.sql.exec<{ state: string }>("SELECT state FROM enrollments ORDER BY entered_at DESC").toArray());
  }

  /** The running enrollments not held by a paused flow whose wait has ended, earliest first. */
  dueEnrollments(now: number): EnrollmentState[] {
    return states(
      this.sql
        .exec<{ state: string }>(
          "SELECT state FROM enrollments WHERE status = 'active' AND held = 0 AND wake_at <= ? ORDER BY wake_at",
          now,
        )
        .toArray(),
    );
  }

  /** The running enrollments. */
  runningEnrollments(): EnrollmentState[] {
    return states(this.sql.exec<{ state: string }>("SELECT state FROM enrollments WHERE status = 'active'").toArray());
  }

  /** The running enrollment in a flow, if any. */
  runningEnrollmentIn(flowId: string): EnrollmentState | undefined {
    return states(
      this.sql.exec<{ state: string }>("SELECT state FROM enrollments WHERE flow_id = ? AND status = 'active'", flowId).toArray(),
    )[0];
  }

  /** The contact's enrollments in the flow, for its re-entry rule. */
  earlierEnrollments(flowId: string): Pick<EnrollmentState, "status" | "enteredAt">[] {
    return this.sql
      .exec<{ status: EnrollmentState["status"]; entered_at: number }>(
        "SELECT status, entered_at FROM enrollments WHERE flow_id = ?",
        flowId,
      )
      .toArray()
      .map((r) => ({ status: r.status, enteredAt: r.entered_at }));
  }

  /** The enrollment of this id. */
  enrollment(id: string): EnrollmentState | undefined {
    return states(this.sql.exec<{ state: string }>("SELECT state FROM enrollments WHERE id = ?", id).toArray())[0];
  }

  /** Stores an enrollment's state; `held` while its flow is not active. */
  saveEnrollment(s: EnrollmentState, held: boolean): void {
    this.sql.exec(
      `INSERT INTO enrollments (id, flow_id, status, wake_at, held, entered_at, state) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET status = excluded.status, wake_at = excluded.wake_at, held = excluded.held, state = excluded.state`,
      s.id,
      s.flowId,
      s.status,
      s.status === "active" ? s.wakeAt : null,
      held ? 1 : 0,
      s.enteredAt,
      JSON.stringify(s),
    );
  }

  /** Holds an enrollment whose flow is paused. */
  hold(id: string): void {
    this.sql.exec("UPDATE enrollments SET held = 1 WHERE id = ?", id);
  }

  /** Wakes the running enrollments of a flow that was paused. */
  releaseFlow(flowId: string): void {
    this.sql.exec("UPDATE enrollments SET held = 0 WHERE flow_id = ? AND status = 'active'", flowId);
  }

  /** The times of the marketing sends since `since`, forgetting older ones. */
  marketingSendsSince(since: number): number[] {
    this.sql.exec("DELETE FROM marketing_sends WHERE at < ?", since);
    return this.sql
      .exec<{ at: number }>("SELECT at FROM marketing_sends")
      .toArray()
      .map((r) => r.at);
  }

  /** Counts a marketing message (once per id) for the frequency cap. */
  keepMarketingSend(messageId: string, at: number): void {
    this.sql.exec("INSERT INTO marketing_sends (message_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING", messageId, at);
  }

  /** Records whether the contact is in the segment now; returns whether they were before (undefined when never seen). */
  swapSegmentMembership(segmentId: string, member: boolean): boolean | undefined {
    const before = this.sql.exec<{ member: number }>("SELECT member FROM segment_membership WHERE segment_id = ?", segmentId).toArray()[0];
    this.sql.exec(
      "INSERT INTO segment_membership (segment_id, member) VALUES (?, ?) ON CONFLICT(segment_id) DO UPDATE SET member = excluded.member",
      segmentId,
      member ? 1 : 0,
    );
    return before ? before.member === 1 : undefined;
  }

  /** Keeps a time trigger until its time; an occurrence already kept is not added twice. */
  addTrigger(occurrence: string, flowId: string, fireAt: number, event: unknown): void {
    this.sql.exec(
      "INSERT INTO pending_triggers (occurrence, flow_id, fire_at, event) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
      occurrence,
      flowId,
      fireAt,
      JSON.stringify(event),
    );
  }

  /** The time triggers whose time has come. */
  dueTriggers(now: number): PendingTrigger[] {
    return this.sql.exec<PendingTrigger>("SELECT * FROM pending_triggers WHERE fire_at <= ?", now).toArray();
  }

  /** Forgets a time trigger (fired, or no longer current). */
  forgetTrigger(occurrence: string): void {
    this.sql.exec("DELETE FROM pending_triggers WHERE occurrence = ?", occurrence);
  }

  /** The earliest time a running enrollment wakes or a trigger fires; null when nothing waits. */
  earliestTimer(): number | null {
    return (
      this.sql
        .exec<{ at: number | null }>(
          `SELECT min(at) AS at FROM (
             SELECT min(wake_at) AS at FROM enrollments WHERE status = 'active' AND held = 0 AND wake_at IS NOT NULL
             UNION ALL SELECT min(fire_at) FROM pending_triggers)`,
        )
        .toArray()[0]?.at ?? null
    );
  }
}

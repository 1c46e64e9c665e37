/**
 * ContactTimer: one Durable Object per contact, named by the contact id. It
 * serialises everything that happens to that contact. It owns its own SQLite
 * storage and alarm; nothing else touches them.
 *
 * It records every event it is handed, once per event id, so a redelivered
 * event is never processed twice.
 */
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import type { ContactEvent } from "./contact-event";

/** Processed event ids are kept this long for deduplication of redeliveries. */
const DEDUP_RETENTION_MS = 30 * 24 * 3600 * 1000;

export class ContactTimer extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.createTables();
  }

  private createTables(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS received_events (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      ts INTEGER NOT NULL,
      body TEXT NOT NULL,
      received_at INTEGER NOT NULL
    )`);
  }

  /** Accepts the contact's events; returns how many were new to this object. */
  async receiveEvents(batch: ContactEvent[]): Promise<{ accepted: number; duplicates: number }> {
    const now = Date.now();
    let accepted = 0;
    for (const event of batch) {
      const inserted = this.sql
        .exec(
          "INSERT INTO received_events (id, name, ts, body, received_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING RETURNING id",
          event.id,
          event.name,
          event.ts,
          JSON.stringify(event),
          now,
        )
        .toArray();
      accepted += inserted.length;
    }
    this.sql.exec("DELETE FROM received_events WHERE received_at < ?", now - DEDUP_RETENTION_MS);
    return { accepted, duplicates: batch.length - accepted };
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
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.createTables();
  }
}

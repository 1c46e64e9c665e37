/** Broadcast test setup: contacts written straight into D1 (no ContactTimer is created for them), templates, runs. */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { advanceBroadcasts } from "../../src/broadcasts/run";
import { openDatabase } from "../../src/db/client";
import { callJson } from "../helpers/api";

export const db = () => openDatabase(env.DB);

/** Inserts contacts in one statement; returns their ids in order. */
export async function seedContacts(
  rows: { email: string; consent?: string; timezone?: string | null }[],
  prefix = "c_b",
): Promise<string[]> {
  const now = Date.now();
  const list = rows.map((r, i) => ({
    id: `${prefix}${String(i).padStart(6, "0")}`,
    email: r.email,
    consent: r.consent ?? "subscribed",
    timezone: r.timezone ?? null,
  }));
  for (let i = 0; i < list.length; i += 1000) {
    await env.DB.prepare(`INSERT INTO contacts (id, email, consent, timezone, attributes, tags, created_at, updated_at)
      SELECT value ->> '$.id', value ->> '$.email', value ->> '$.consent', value ->> '$.timezone', '{}', '[]', ?, ?
      FROM json_each(?)`)
      .bind(now, now, JSON.stringify(list.slice(i, i + 1000)))
      .run();
  }
  return list.map((c) => c.id);
}

/** Stores a template with a tracked link. */
export async function template(id: string, subject = `Subject ${id}`): Promise<void> {
  await env.DB.prepare("INSERT OR REPLACE INTO templates (id, subject, html, created_at, updated_at) VALUES (?, ?, ?, 0, 0)")
    .bind(id, subject, `<html><body><p>Hi {{ contact.email }}</p><a href="https://shop.test/sale">Sale</a></body></html>`)
    .run();
}

/** Saves a broadcast and sends it; returns the send answer. */
export async function sendBroadcast(id: string, body: Record<string, unknown>) {
  const put = await callJson(`/v1/broadcasts/${id}`, { method: "PUT", body });
  expect(put.status, JSON.stringify(put.body)).toBe(201);
  const sent = await callJson(`/v1/broadcasts/${id}/send`, { method: "POST" });
  expect(sent.status, JSON.stringify(sent.body)).toBe(200);
  return sent.body;
}

/** One cron's worth of broadcast work at `now`, limited to `pages` audience pages. */
export function advance(now = Date.now(), pages?: number) {
  return advanceBroadcasts(db(), env.SIGNING_SECRET as string, now, pages);
}

/** The broadcast's messages. */
export async function broadcastMessages(id: string) {
  return (await env.DB.prepare("SELECT * FROM messages WHERE broadcast_id = ? ORDER BY contact_id").bind(id).all<Record<string, any>>())
    .results;
}

/** Lets queued retries fall due now (the sender backs off 30 s and more between attempts). */
export async function retriesDueNow(): Promise<void> {
  await env.DB.prepare("UPDATE messages SET due_at = ? WHERE status = 'queued' AND due_at < 8640000000000000")
    .bind(Date.now() - 1)
    .run();
}

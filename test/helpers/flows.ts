/** Drives the flow engine in workerd: templates in D1, flows through the API, events in, alarms fired, messages read back. */

import { runDurableObjectAlarm } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import type { ContactTimer } from "../../src/contact/contact-timer";
import { callJson } from "./api";

/** Stores minimal templates directly (the templates API belongs to delivery). */
export async function createTemplates(...ids: string[]): Promise<void> {
  if (ids.length === 0) return;
  const now = Date.now();
  await env.DB.batch(
    ids.map((id) =>
      env.DB.prepare("INSERT OR IGNORE INTO templates (id, subject, html, created_at, updated_at) VALUES (?, ?, ?, ?, ?)").bind(
        id,
        `Subject ${id}`,
        `<p>${id}</p>`,
        now,
        now,
      ),
    ),
  );
}

/** Creates the flow's templates, saves the flow and activates it. */
export async function activeFlow(definition: { id: string; steps: unknown[] } & Record<string, unknown>): Promise<void> {
  const templates =
    JSON.stringify(definition)
      .match(/"template":"([^"]+)"/g)
      ?.map((m) => m.slice(12, -1)) ?? [];
  await createTemplates(...templates);
  const put = await callJson(`/v1/flows/${definition.id}`, { method: "PUT", body: definition });
  expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
  const activated = await callJson(`/v1/flows/${definition.id}/activate`, { method: "POST" });
  expect(activated.status).toBe(200);
}

/** Two emails a day apart, started by `signed_up`: the flow the version and lifecycle tests edit. */
export const SIMPLE_FLOW = {
  name: "Simple",
  trigger: { event: "signed_up" },
  steps: [
    { id: "hello", type: "email", template: "t1" },
    { id: "pause", type: "wait", for: "1d" },
    { id: "bye", type: "email", template: "t2" },
  ],
};

/** Saves a flow through the API (a new version each time) and returns the stored flow. */
export async function putFlow(id: string, body: unknown) {
  const res = await callJson(`/v1/flows/${id}`, { method: "PUT", body });
  expect(res.status, JSON.stringify(res.body)).toBeLessThan(300);
  return res.body;
}

/**
 * Mirror rows of `contacts` running enrollments of a flow on a step, as the ContactTimers write them, each with its
 * contact (ids `<prefix>-0000`, …).
 */
export async function insertRunning(flowId: string, step: string, contacts: number, prefix = step): Promise<void> {
  const ids = JSON.stringify(Array.from({ length: contacts }, (_, i) => String(i).padStart(4, "0")));
  await env.DB.prepare(
    `INSERT INTO contacts (id, email, consent, created_at, updated_at)
     SELECT ?1 || '-' || value, ?1 || '-' || value || '@example.com', 'subscribed', 0, 0 FROM json_each(?2)`,
  )
    .bind(prefix, ids)
    .run();
  await env.DB.prepare(
    `INSERT INTO enrollments (id, contact_id, flow_id, flow_version, status, current_step, entered_at)
     SELECT 'en-' || ?1 || '-' || value, ?1 || '-' || value, ?2, 1, 'active', ?3, 1000 FROM json_each(?4)`,
  )
    .bind(prefix, flowId, step, ids)
    .run();
}

/** A flow no event starts (contacts are enrolled by hand): an email, a day's wait, another email. */
export function handEnrolledFlow(id: string, name: string, templates: [string, string]) {
  return {
    id,
    name,
    trigger: { event: "never_sent" },
    reentry: "never",
    steps: [
      { id: "hello", type: "email", template: templates[0] },
      { id: "pause", type: "wait", for: "1d" },
      { id: "later", type: "email", template: templates[1] },
    ],
  };
}

/**
 * Upserts a contact and returns its id. Without a `consent` field a new contact is an existing subscriber (set in D1,
 * so that no `subscribed` is emitted): the engine's tests start from someone who may get marketing mail.
 */
export async function contactId(email: string, fields: Record<string, unknown> = {}): Promise<string> {
  if (fields.consent === undefined) await markSubscribed([email]);
  const res = await callJson("/v1/contacts", { method: "PUT", body: { email, ...fields } });
  expect(res.status).toBeLessThan(300);
  return res.body.id as string;
}

/** Makes these addresses existing subscribers, creating the unknown ones, without emitting any event. */
export async function markSubscribed(emails: string[]): Promise<void> {
  const now = Date.now();
  await env.DB.prepare(
    `INSERT INTO contacts (id, email, consent, consent_changed_at, created_at, updated_at)
     SELECT 'c_' || lower(hex(randomblob(16))), lower(trim(value)), 'subscribed', ?1, ?1, ?1 FROM json_each(?2) WHERE true
     ON CONFLICT(email) DO UPDATE SET consent = 'subscribed' WHERE consent = 'none'`,
  )
    .bind(now, JSON.stringify(emails))
    .run();
}

/**
 * Posts one or more events through the admin API. The addresses they name that are unknown become subscribers first,
 * as the shop's existing list would be (an event alone creates a contact with consent `none`, SPEC section 9).
 */
export async function track(events: Record<string, unknown> | Record<string, unknown>[]): Promise<void> {
  const list = Array.isArray(events) ? events : [events];
  const emails = list.flatMap((e) => (typeof e.email === "string" ? [e.email] : []));
  if (emails.length > 0) await markSubscribed(emails);
  const res = await callJson("/v1/events", { method: "POST", body: events });
  expect(res.status, JSON.stringify(res.body)).toBe(202);
}

/** The contact's ContactTimer stub. */
export function timerOf(id: string): DurableObjectStub<ContactTimer> {
  return env.CONTACT_TIMER.get(env.CONTACT_TIMER.idFromName(id)) as DurableObjectStub<ContactTimer>;
}

/** Fires the contact's alarm now, if one is set (waits must be due in real time). */
export async function fireAlarm(id: string): Promise<boolean> {
  return runDurableObjectAlarm(timerOf(id));
}

/** Waits real time (tests shorten flow waits to seconds). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface MessageRow {
  id: string;
  contact_id: string;
  to_email: string;
  kind: string;
  flow_id: string;
  step_id: string;
  variant: string | null;
  template_id: string;
  status: string;
  due_at: number;
  reason: string | null;
  enrollment_id: string;
}

/** The contact's messages in queue order. */
export async function messagesOf(id: string): Promise<MessageRow[]> {
  const { results } = await env.DB.prepare("SELECT * FROM messages WHERE contact_id = ? ORDER BY due_at, rowid").bind(id).all<MessageRow>();
  return results;
}

/** The D1 mirror of the contact's enrollments. */
export async function enrollmentsOf(id: string) {
  const { results } = await env.DB.prepare("SELECT * FROM enrollments WHERE contact_id = ? ORDER BY entered_at").bind(id).all<{
    id: string;
    flow_id: string;
    status: string;
    current_step: string | null;
    exit_reason: string | null;
    converted_at: number | null;
  }>();
  return results;
}

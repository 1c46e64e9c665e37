/**
 * The core defends itself against data that slipped past validation (written straight into D1 here, as rows stored
 * before inputs were checked would be): one contact's bad time zone or unreadable attributes never stop anyone's mail.
 */
import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ContactTimer } from "../../src/contact/contact-timer";
import worker from "../../src/index";
import { callJson } from "../helpers/api";
import { activeFlow, contactId, messagesOf, timerOf } from "../helpers/flows";

const MINUTE = 60_000;
const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);

async function storeTimeZone(id: string, timezone: string): Promise<void> {
  await env.DB.prepare("UPDATE contacts SET timezone = ? WHERE id = ?").bind(timezone, id).run();
}

/** Attributes nested past SQLite's JSON depth limit (1,000), which its JSON functions refuse to read. */
async function storeUnreadableAttributes(id: string): Promise<void> {
  const deep = `${'{"a":'.repeat(1500)}1${"}".repeat(1500)}`;
  await env.DB.prepare("UPDATE contacts SET attributes = ? WHERE id = ?").bind(deep, id).run();
}

async function wakeAt(id: string): Promise<number | null> {
  const [state] = await runInDurableObject(timerOf(id), (timer) => (timer as unknown as ContactTimer).enrollmentStates());
  return state?.wakeAt ?? null;
}

async function runDailyCron(at = Date.now()): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "17 3 * * *", scheduledTime: at }), env, ctx);
  await waitOnExecutionContext(ctx);
}

async function postEvents(events: Record<string, unknown>[]) {
  return callJson("/v1/events", { method: "POST", body: events });
}

describe("a stored time zone Intl does not know is read as UTC", () => {
  it("a contact with a stored bad time zone still gets mail, in UTC", async () => {
    const wakeTime = Math.floor((Date.now() + 3 * 3_600_000) / MINUTE) * MINUTE;
    await activeFlow({
      id: "tz-mail",
      name: "Time zone mail",
      trigger: { event: "tz_go" },
      steps: [
        { id: "hello", type: "email", template: "tz-hello" },
        { id: "later", type: "wait", until: { time: hhmm(wakeTime) } },
        { id: "again", type: "email", template: "tz-again" },
      ],
    });
    const bad = await contactId("bad-zone@example.com");
    await storeTimeZone(bad, "Bogus/Zone");

    const { status } = await postEvents([{ email: "bad-zone@example.com", name: "tz_go" }]);

    expect(status).toBe(202);
    expect((await messagesOf(bad)).map((m) => `${m.step_id}:${m.status}`)).toEqual(["hello:sent"]);
    // The next send waits for that time of day on a UTC clock.
    expect(await wakeAt(bad)).toBe(wakeTime);
  });

  it("an events batch containing a contact with a bad time zone is accepted", async () => {
    const now = Date.now();
    // Quiet hours that end a minute from now, UTC: both contacts' first email waits for the end, none throws.
    await activeFlow({
      id: "tz-batch",
      name: "Time zone batch",
      trigger: { event: "tz_batch" },
      settings: { quiet_hours: { start: hhmm(now - 60 * MINUTE), end: hhmm(now + 2 * MINUTE) } },
      steps: [{ id: "hello", type: "email", template: "tz-batch-hello" }],
    });
    const bad = await contactId("bad-batch@example.com");
    const good = await contactId("good-batch@example.com", { timezone: "UTC" });
    await storeTimeZone(bad, "Not/AZone");

    const { status, body } = await postEvents([
      { email: "bad-batch@example.com", name: "tz_batch" },
      { email: "good-batch@example.com", name: "tz_batch" },
    ]);

    expect(status, JSON.stringify(body)).toBe(202);
    expect(body.accepted).toBe(2);
    const quietEnd = Math.floor((now + 2 * MINUTE) / MINUTE) * MINUTE;
    expect(await wakeAt(bad)).toBe(quietEnd);
    expect(await wakeAt(good)).toBe(quietEnd);
  });

  it("a stored bad time zone does not stop the daily date scan for other contacts", async () => {
    const now = Date.now();
    const today = new Date(now).toISOString().slice(0, 10);
    const bad = await contactId("bad-date@example.com", { attributes: { renewal_date: today } });
    const good = await contactId("good-date@example.com", { timezone: "UTC", attributes: { renewal_date: today } });
    await storeTimeZone(bad, "Bogus/Zone");
    await activeFlow({
      id: "tz-date",
      name: "Renewal today",
      trigger: { date: { attribute: "renewal_date", at: hhmm(now - MINUTE) } },
      steps: [{ id: "remind", type: "email", template: "tz-date-remind" }],
    });

    await runDailyCron();

    expect((await messagesOf(good)).map((m) => m.template_id)).toEqual(["tz-date-remind"]);
    // Read as UTC, the bad zone's contact is due at the same instant.
    expect((await messagesOf(bad)).map((m) => m.template_id)).toEqual(["tz-date-remind"]);
  });
});

describe("a contact's unreadable stored attributes break nothing for others", () => {
  it("a stored over-deep attribute does not break segments for others", async () => {
    const deep = await contactId("deep-seg@example.com", { attributes: { plan: "pro" } });
    await contactId("pro-seg@example.com", { attributes: { plan: "pro" } });
    await contactId("free-seg@example.com", { attributes: { plan: "free" } });
    await storeUnreadableAttributes(deep);
    const put = await callJson("/v1/segments/pros", {
      method: "PUT",
      body: {
        name: "Pros",
        condition: {
          any: [
            { attr: "plan", op: "eq", value: "pro" },
            { attr: "plan", op: "in", value: ["team"] },
          ],
        },
      },
    });
    expect(put.status).toBe(201);

    const listed = await callJson("/v1/segments/pros/contacts");

    expect(listed.status).toBe(200);
    expect(listed.body.contacts.map((c: { email: string }) => c.email)).toEqual(["pro-seg@example.com"]);
  });

  it("a stored over-deep attribute does not stop the daily date scan, the profile or the flows of others", async () => {
    const now = Date.now();
    const today = new Date(now).toISOString().slice(0, 10);
    const deep = await contactId("deep-date@example.com", { timezone: "UTC", attributes: { renewal_date: today } });
    const good = await contactId("good-deep-date@example.com", { timezone: "UTC", attributes: { renewal_date: today } });
    await storeUnreadableAttributes(deep);
    await activeFlow({
      id: "deep-date",
      name: "Renewal today",
      trigger: { date: { attribute: "renewal_date", at: hhmm(now - MINUTE) } },
      steps: [{ id: "remind", type: "email", template: "deep-date-remind" }],
    });
    await activeFlow({
      id: "deep-event",
      name: "On event",
      trigger: { event: "deep_go", where: { prop: "kind", op: "eq", value: "a" } },
      steps: [{ id: "hello", type: "email", template: "deep-event-hello" }],
    });

    await runDailyCron();
    const events = await postEvents([
      { email: "deep-date@example.com", name: "deep_go", properties: { kind: "a" } },
      { email: "good-deep-date@example.com", name: "deep_go", properties: { kind: "a" } },
    ]);

    expect((await messagesOf(good)).map((m) => m.template_id).sort()).toEqual(["deep-date-remind", "deep-event-hello"]);
    expect(events.status).toBe(202);
    expect((await callJson(`/v1/contacts/${good}`)).status).toBe(200);
    expect((await callJson(`/v1/contacts/${deep}`)).status).toBe(200);
  });

  it("a contact whose stored attributes are unreadable can still be updated, the write replacing them", async () => {
    const deep = await contactId("deep-update@example.com", { attributes: { plan: "pro" } });
    await storeUnreadableAttributes(deep);

    const put = await callJson("/v1/contacts", { method: "PUT", body: { email: "deep-update@example.com", attributes: { plan: "team" } } });

    expect(put.status).toBe(200);
    expect(await env.DB.prepare("SELECT attributes FROM contacts WHERE id = ?").bind(deep).first("attributes")).toBe('{"plan":"team"}');
  });
});

import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { activeFlow, contactId, messagesOf } from "../helpers/flows";

async function runDailyCron(at = Date.now()): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "17 3 * * *", scheduledTime: at }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);

describe("date triggers", () => {
  it("start a yearly birthday flow at its local time, once per year however often the scan runs", async () => {
    const now = Date.now();
    const today = new Date(now).toISOString().slice(5, 10);
    const birthday = await contactId("bday@example.com", { timezone: "UTC", attributes: { birthday: `1990-${today}`, code: "HBD10" } });
    const notToday = await contactId("other@example.com", {
      timezone: "UTC",
      attributes: { birthday: "1990-01-01" === `1990-${today}` ? "1990-07-01" : "1990-01-01" },
    });
    await activeFlow({
      id: "birthday",
      name: "Birthday",
      trigger: { date: { attribute: "birthday", at: hhmm(now - 60_000), repeat: "yearly" } },
      steps: [{ id: "gift", type: "email", template: "birthday-1" }],
    });
    // Activation scans at once (after the response); the daily cron scans again.
    await runDailyCron();
    await runDailyCron();
    expect((await messagesOf(birthday)).map((m) => m.template_id)).toEqual(["birthday-1"]);
    expect(await messagesOf(notToday)).toHaveLength(0);
  });

  it("fire a renewal reminder an offset before a one-off date, at the contact's hour", async () => {
    const now = Date.now();
    const renewal = new Date(now + 30 * 86_400_000).toISOString().slice(0, 10);
    const id = await contactId("renew@example.com", { timezone: "UTC", attributes: { renewal_date: renewal } });
    await activeFlow({
      id: "renewal",
      name: "Renewal",
      trigger: { date: { attribute: "renewal_date", offset: "-30d", at: hhmm(now - 60_000) } },
      steps: [{ id: "remind", type: "email", template: "renewal-30" }],
    });
    await runDailyCron();
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["renewal-30"]);
  });
});

describe("inactivity triggers", () => {
  it("start for contacts with no open or click for the duration, once per inactive spell", async () => {
    const dormant = await contactId("dormant@example.com");
    const active = await contactId("active@example.com");
    const day = 86_400_000;
    await env.DB.prepare("UPDATE contacts SET created_at = ?, last_opened_at = ? WHERE id = ?")
      .bind(Date.now() - 90 * day, Date.now() - 31 * day, dormant)
      .run();
    await env.DB.prepare("UPDATE contacts SET created_at = ?, last_opened_at = ? WHERE id = ?")
      .bind(Date.now() - 90 * day, Date.now() - 2 * day, active)
      .run();
    await activeFlow({
      id: "winback",
      name: "Win-back",
      trigger: { inactive_for: "30d" },
      steps: [{ id: "offer", type: "email", template: "winback-1" }],
    });
    await runDailyCron();
    await runDailyCron();
    expect((await messagesOf(dormant)).map((m) => m.template_id)).toEqual(["winback-1"]);
    expect(await messagesOf(active)).toHaveLength(0);
  });
});

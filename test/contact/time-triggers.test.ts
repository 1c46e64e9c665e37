import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { activeFlow, contactId, fireAlarm, messagesOf, sleep, timerOf, track } from "../helpers/flows";

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

describe("date triggers on system dates", () => {
  it("fire on last_order_at, last_opened_at, last_clicked_at and created_at like on a custom attribute", async () => {
    const now = Date.now();
    const day = 86_400_000;
    const columns = ["last_order_at", "last_opened_at", "last_clicked_at", "created_at"] as const;
    const due: Record<string, string> = {};
    for (const column of columns) {
      due[column] = await contactId(`sysdate-${column}@example.com`, { timezone: "UTC" });
      // Ten days and a minute ago: the trigger's 10-day offset has just passed.
      await env.DB.prepare(`UPDATE contacts SET ${column} = ? WHERE id = ?`)
        .bind(now - 10 * day - 60_000, due[column])
        .run();
    }
    const unset = await contactId("sysdate-unset@example.com", { timezone: "UTC" });
    for (const column of columns) {
      await activeFlow({
        id: `sysdate-${column.replaceAll("_", "-")}`,
        name: `After ${column}`,
        trigger: { date: { attribute: column, offset: "10d" } },
        steps: [{ id: "mail", type: "email", template: `sysdate-${column.replaceAll("_", "-")}` }],
      });
    }
    await runDailyCron();
    for (const column of columns) {
      expect((await messagesOf(due[column]!)).map((m) => m.template_id)).toEqual([`sysdate-${column.replaceAll("_", "-")}`]);
    }
    expect(await messagesOf(unset)).toEqual([]);
  });

  it("is re-armed when the date moves: a new order replaces the timer for the old last_order_at", async () => {
    const now = Date.now();
    const day = 86_400_000;
    const ordersAgain = await contactId("rearm-orders@example.com", { timezone: "UTC" });
    const staysAway = await contactId("rearm-stays@example.com", { timezone: "UTC" });
    // Their 30 days since the last order end in two seconds.
    await env.DB.prepare("UPDATE contacts SET last_order_at = ? WHERE id IN (?, ?)")
      .bind(now - 30 * day + 2000, ordersAgain, staysAway)
      .run();
    await activeFlow({
      id: "rearm",
      name: "Thirty days after an order",
      trigger: { date: { attribute: "last_order_at", offset: "30d" } },
      steps: [{ id: "mail", type: "email", template: "rearm-1" }],
    });
    await runDailyCron();
    await track({ contact_id: ordersAgain, name: "order_placed", value: 12 });
    const newOrderAt = (await env.DB.prepare("SELECT last_order_at FROM contacts WHERE id = ?")
      .bind(ordersAgain)
      .first<number>("last_order_at"))!;
    expect(newOrderAt).toBeGreaterThan(now - 1000);
    await sleep(2100);
    await fireAlarm(ordersAgain);
    await fireAlarm(staysAway);
    expect((await messagesOf(staysAway)).map((m) => m.template_id)).toEqual(["rearm-1"]);
    expect(await messagesOf(ordersAgain)).toEqual([]);
    // The old date's timer is gone; the new date's is set, 30 days after the new order.
    const pending = await runInDurableObject(timerOf(ordersAgain), (_, state) =>
      state.storage.sql.exec<{ fire_at: number }>("SELECT fire_at FROM pending_triggers").toArray(),
    );
    expect(pending.map((p) => p.fire_at)).toEqual([newOrderAt + 30 * day]);
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

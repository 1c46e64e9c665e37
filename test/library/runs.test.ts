import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { activeFlow, contactId, enrollmentsOf, fireAlarm, messagesOf, sleep, track } from "../helpers/flows";
import { shortened } from "../helpers/library";
import { eventsNamed, eventually, visit } from "../helpers/tracking";

describe("welcome series run", () => {
  /** The welcome series under a test id; its branch names the flow it belongs to. */
  function welcomeRun(suffix: string) {
    const flow = shortened("welcome-series");
    return JSON.parse(JSON.stringify({ ...flow, id: "welcome-series" }).replaceAll('"welcome-series"', `"welcome-series-${suffix}"`));
  }

  /** Fires the contact's alarm after a shortened wait and lists the templates sent so far. */
  async function afterWait(id: string): Promise<string[]> {
    await sleep(1100);
    await fireAlarm(id);
    return (await messagesOf(id)).map((m) => m.template_id);
  }

  it("sends email 1 at once, email 2 and email 3 after their waits, then resends email 2 when it went unopened", async () => {
    await activeFlow(welcomeRun("unopened"));
    const id = await contactId("lib-welcome@example.com");
    await track({ email: "lib-welcome@example.com", name: "subscribed" });
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["welcome-1"]);
    expect(await afterWait(id)).toEqual(["welcome-1", "welcome-2"]);
    expect(await afterWait(id)).toEqual(["welcome-1", "welcome-2", "welcome-3"]);
    expect(await afterWait(id)).toEqual(["welcome-1", "welcome-2", "welcome-3", "welcome-2-resend"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "welcome-series-unopened", status: "completed" }]);
  });

  it("does not resend email 2 to a contact who opened it", async () => {
    await activeFlow(welcomeRun("opened"));
    const id = await contactId("lib-welcome-opened@example.com");
    await track({ email: "lib-welcome-opened@example.com", name: "subscribed" });
    expect(await afterWait(id)).toEqual(["welcome-1", "welcome-2"]);
    const second = (await messagesOf(id))[1]!;
    // Opened by a person an hour after delivery, so the open is not taken for a machine's.
    await env.DB.prepare("UPDATE messages SET sent_at = ? WHERE id = ?")
      .bind(Date.now() - 3_600_000, second.id)
      .run();
    const { html } = (await env.DB.prepare("SELECT html FROM messages WHERE id = ?").bind(second.id).first<{ html: string }>())!;
    const pixel = /src="https:\/\/nurture\.test(\/o\/[^"]+)"/.exec(html)![1]!;
    expect((await visit(pixel)).status).toBe(200);
    await eventually(
      () => eventsNamed(id, "email_opened"),
      (opens) => opens.some((o) => o.machine === 0),
    );
    expect(await afterWait(id)).toEqual(["welcome-1", "welcome-2", "welcome-3"]);
    expect(await afterWait(id)).toEqual(["welcome-1", "welcome-2", "welcome-3"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "welcome-series-opened", status: "exited" }]);
  });
});

describe("failed payment run", () => {
  it("sends the transactional notice at once and exits on payment_succeeded before the reminder", async () => {
    await activeFlow(shortened("failed-payment"));
    const id = await contactId("lib-payment@example.com");
    await track({ email: "lib-payment@example.com", name: "payment_failed", properties: { update_url: "https://shop.test/billing" } });
    const [notice] = await messagesOf(id);
    expect(notice).toMatchObject({ template_id: "failed-payment-1", kind: "transactional" });
    await track({ email: "lib-payment@example.com", name: "payment_succeeded" });
    await sleep(1100);
    await fireAlarm(id);
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["failed-payment-1"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "failed-payment-run", status: "exited" }]);
  });
});

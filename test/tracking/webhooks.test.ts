import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { Webhook } from "svix";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { deliverDue } from "../../src/pipeline/pipeline";
import { call, ORIGIN } from "../helpers/dashboard";
import { activeFlow } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";
import { fakeResend, providerEnv } from "../helpers/resend";
import { eventsNamed, sentEmail } from "../helpers/tracking";

const SECRET = env.RESEND_WEBHOOK_SECRET!;

afterEach(() => {
  vi.useRealTimers();
});

function post(body: string, headers: Record<string, string>) {
  return call("/webhooks/resend", {
    method: "POST",
    auth: false,
    rawBody: body,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** Signs like Resend does, with the svix package's own signer. */
function signed(payload: unknown, id = `msg_${crypto.randomUUID()}`, secret = SECRET, at = new Date()) {
  const body = JSON.stringify(payload);
  const signature = new Webhook(secret).sign(id, at, body);
  return { body, headers: { "svix-id": id, "svix-timestamp": String(Math.floor(at.getTime() / 1000)), "svix-signature": signature } };
}

async function providerMessage() {
  const email = await sentEmail();
  await env.DB.prepare("UPDATE messages SET provider_id = 're_abc' WHERE id = ?").bind(email.messageId).run();
  return email;
}

describe("signature verification", () => {
  it("accepts the published known-answer vector with the clock pinned, among several signatures", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(1614265330 * 1000);
    const res = await post('{"test": 2432232314}', {
      "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "svix-timestamp": "1614265330",
      "svix-signature": "v1,bm90IHRoaXMgb25l v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    });
    expect(res.status).toBe(200);
  });

  it("rejects a wrong secret, a stale timestamp, a modified body and missing headers with 401", async () => {
    const payload = { type: "email.delivered", data: { email_id: "re_x" } };
    const wrong = signed(payload, "msg_1", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSx");
    expect((await post(wrong.body, wrong.headers)).status).toBe(401);
    const stale = signed(payload, "msg_2", SECRET, new Date(Date.now() - 6 * 60_000));
    expect((await post(stale.body, stale.headers)).status).toBe(401);
    const good = signed(payload, "msg_3");
    expect((await post(good.body.replace("re_x", "re_y"), good.headers)).status).toBe(401);
    const res = await post(good.body, {});
    expect(res.status).toBe(401);
    expect((await res.json<{ error: { code: string } }>()).error.code).toBe("invalid_signature");
    expect(await env.DB.prepare("SELECT count(*) AS n FROM webhook_receipts").first("n")).toBe(0);
  });
});

describe("delivery events", () => {
  it("marks delivery and emits email_delivered once, however often the same svix-id arrives", async () => {
    const { contact, messageId } = await providerMessage();
    const delivered = signed(
      { type: "email.delivered", created_at: new Date().toISOString(), data: { email_id: "re_abc" } },
      "msg_delivered",
    );
    expect((await post(delivered.body, delivered.headers)).status).toBe(200);
    const replay = await post(delivered.body, delivered.headers);
    expect(await replay.json()).toEqual({ ok: true, duplicate: true });
    expect(await eventsNamed(contact, "email_delivered")).toHaveLength(1);
    expect(
      (await env.DB.prepare("SELECT delivered_at FROM messages WHERE id = ?").bind(messageId).first("delivered_at")) as number,
    ).toBeGreaterThan(0);
  });

  it("suppresses the address on a permanent bounce, not on a transient one", async () => {
    const { contact } = await providerMessage();
    const transient = signed({
      type: "email.bounced",
      data: { email_id: "re_abc", bounce: { type: "Transient", message: "Mailbox full" } },
    });
    await post(transient.body, transient.headers);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM suppressions").first("n")).toBe(0);
    const permanent = signed({
      type: "email.bounced",
      data: { email_id: "re_abc", bounce: { type: "Permanent", message: "No such user" } },
    });
    await post(permanent.body, permanent.headers);
    expect(await env.DB.prepare("SELECT email, reason, detail FROM suppressions").first()).toEqual({
      email: "reader@example.com",
      reason: "hard_bounce",
      detail: "No such user",
    });
    expect(await eventsNamed(contact, "email_bounced")).toHaveLength(2);
  });

  it("suppresses and unsubscribes on a complaint", async () => {
    const { contact } = await providerMessage();
    const complaint = signed({ type: "email.complained", data: { email_id: "re_abc" } });
    expect((await post(complaint.body, complaint.headers)).status).toBe(200);
    expect(await env.DB.prepare("SELECT reason FROM suppressions WHERE email = 'reader@example.com'").first("reason")).toBe("complaint");
    expect(await env.DB.prepare("SELECT consent FROM contacts WHERE id = ?").bind(contact).first("consent")).toBe("unsubscribed");
    expect(await eventsNamed(contact, "email_complained")).toHaveLength(1);
    expect(await eventsNamed(contact, "unsubscribed")).toHaveLength(1);
  });

  it("counts Resend's open and click reports only where our own tracking saw nothing", async () => {
    const { contact } = await providerMessage();
    const opened = signed({ type: "email.opened", data: { email_id: "re_abc" } });
    await post(opened.body, opened.headers);
    const again = signed({ type: "email.opened", data: { email_id: "re_abc" } });
    await post(again.body, again.headers);
    expect(await eventsNamed(contact, "email_opened")).toHaveLength(1);
    const clicked = signed({ type: "email.clicked", data: { email_id: "re_abc", click: { link: "https://shop.test/new" } } });
    await post(clicked.body, clicked.headers);
    const twice = signed({ type: "email.clicked", data: { email_id: "re_abc", click: { link: "https://shop.test/new" } } });
    await post(twice.body, twice.headers);
    const clicks = await eventsNamed(contact, "email_clicked");
    expect(clicks).toHaveLength(1);
    expect(JSON.parse(clicks[0]!.properties)).toMatchObject({ url: "https://shop.test/new", link_index: 1 });
  });

  it("ignores events for messages it does not know", async () => {
    const unknown = signed({ type: "email.delivered", data: { email_id: "re_nobody" } });
    expect((await post(unknown.body, unknown.headers)).status).toBe(200);
  });
});

describe("a signed event is validated before anything is written", () => {
  it("a signed event of the wrong shape is refused with 422 and leaves no receipt", async () => {
    const wrong = signed({ type: "email.bounced", data: { email_id: 12345, bounce: "Permanent" } });
    const res = await post(wrong.body, wrong.headers);
    expect(res.status).toBe(422);
    expect((await res.json<{ error: { code: string } }>()).error.code).toBe("validation_failed");
    expect(await env.DB.prepare("SELECT count(*) AS n FROM webhook_receipts").first("n")).toBe(0);
  });

  it("a bounce with a huge message still suppresses the address, its detail cut to 1,000 characters", async () => {
    await providerMessage();
    const bounce = signed({
      type: "email.bounced",
      data: { email_id: "re_abc", bounce: { type: "Permanent", message: "x".repeat(50_000) } },
    });
    expect((await post(bounce.body, bounce.headers)).status).toBe(200);
    const detail = await env.DB.prepare("SELECT detail FROM suppressions WHERE email = 'reader@example.com'").first<string>("detail");
    expect(detail).toHaveLength(1000);
  });
});

describe("a provider report never sends mail by itself", () => {
  /** Posts a signed report to the Worker as deployed with a provider (the fake), as Resend would. */
  function postWithProvider({ body, headers }: { body: string; headers: Record<string, string> }) {
    return worker.fetch(
      new Request(`${ORIGIN}/webhooks/resend`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } }),
      providerEnv(),
      createExecutionContext(),
    );
  }

  async function messageRows() {
    return (await env.DB.prepare("SELECT id, flow_id, status, delivered_at, opened_at FROM messages ORDER BY id").all()).results;
  }

  async function eventCounts() {
    return (await env.DB.prepare("SELECT name, count(*) AS n FROM events GROUP BY name ORDER BY name").all()).results;
  }

  for (const report of [
    { type: "email.delivered", event: "email_delivered", column: "delivered_at" },
    { type: "email.opened", event: "email_opened", column: "opened_at" },
  ] as const) {
    it(`an ${report.type} webhook calls no provider: the mail a flow triggered on ${report.event} queues leaves with the cron`, async () => {
      const { contact, messageId } = await providerMessage();
      await activeFlow({
        id: "follow-up",
        name: "Follow-up",
        trigger: { event: report.event },
        steps: [{ id: "thanks", type: "email", template: "thanks" }],
      });
      const messagesBefore = await messageRows();
      const eventsBefore = await eventCounts();
      const provider = fakeResend();

      const res = await postWithProvider(signed({ type: report.type, created_at: new Date().toISOString(), data: { email_id: "re_abc" } }));

      expect(res.status).toBe(200);
      expect(provider).toHaveLength(0);
      // The report's own facts: the column on the reported message, one event, and the message the flow queued.
      const messagesAfter = await messageRows();
      const followUp = messagesAfter.find((m) => m.flow_id === "follow-up");
      expect(followUp).toMatchObject({ status: "queued" });
      expect(messagesAfter.filter((m) => m.flow_id !== "follow-up")).toEqual(
        messagesBefore.map((m) => (m.id === messageId ? { ...m, [report.column]: expect.any(Number) } : m)),
      );
      expect(await eventCounts()).toEqual(
        [...eventsBefore.filter((e) => e.name !== report.event), { name: report.event, n: 1 }].sort((a, b) =>
          String(a.name).localeCompare(String(b.name)),
        ),
      );
      expect(
        await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ? AND name = ?").bind(contact, report.event).first("n"),
      ).toBe(1);

      // The timer decided the mail is due now: the every-minute cron sends it.
      await deliverDue(pipelineFor(providerEnv()));
      expect(provider.accepted.map((e) => e.to)).toEqual([["reader@example.com"]]);
      expect(await env.DB.prepare("SELECT status FROM messages WHERE id = ?").bind(followUp!.id).first("status")).toBe("sent");
    });
  }
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signExpiringToken } from "../../src/tracking/tokens";
import { callJson } from "../helpers/api";
import { call } from "../helpers/dashboard";
import { activeFlow, enrollmentsOf } from "../helpers/flows";
import { eventsNamed, sentEmail, visit } from "../helpers/tracking";

const contactRow = (id: string) => env.DB.prepare("SELECT * FROM contacts WHERE id = ?").bind(id).first<Record<string, any>>();

describe("unsubscribe", () => {
  it("shows a confirm page on GET and changes nothing (mail scanners fetch every link)", async () => {
    const { contact, unsubscribe } = await sentEmail();
    const res = await visit(`/u/${unsubscribe}`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<form method="post">');
    expect((await contactRow(contact))?.consent).toBe("subscribed");
  });

  it("takes effect at once on an RFC 8058 one-click POST: consent, event, queued mail suppressed, enrollments exit; repeating is harmless", async () => {
    const { contact, messageId, unsubscribe } = await sentEmail([
      { id: "wait", type: "wait", for: "1d" },
      { id: "later", type: "email", template: "news" },
    ]);
    await env.DB.prepare("UPDATE messages SET status = 'queued', due_at = ? WHERE id = ?")
      .bind(Date.now() + 60_000, messageId)
      .run();
    const oneClick = () =>
      call(`/u/${unsubscribe}`, {
        method: "POST",
        auth: false,
        rawBody: "List-Unsubscribe=One-Click",
        headers: { "content-type": "application/x-www-form-urlencoded" },
      });
    expect((await oneClick()).status).toBe(200);
    expect((await contactRow(contact))?.consent).toBe("unsubscribed");
    expect(await eventsNamed(contact, "unsubscribed")).toHaveLength(1);
    const queued = await env.DB.prepare("SELECT status, reason FROM messages WHERE id = ?").bind(messageId).first();
    expect(queued).toEqual({ status: "suppressed", reason: "unsubscribed" });
    expect(await enrollmentsOf(contact)).toMatchObject([{ status: "exited", exit_reason: "unsubscribed" }]);
    expect((await oneClick()).status).toBe(200);
    expect(await eventsNamed(contact, "unsubscribed")).toHaveLength(1);
  });

  it("answers a forged token with a 404 page", async () => {
    const { unsubscribe } = await sentEmail();
    expect((await visit(`/u/${unsubscribe}x`)).status).toBe(404);
    expect((await call(`/u/${unsubscribe}x`, { method: "POST", auth: false })).status).toBe(404);
  });
});

describe("double opt-in", () => {
  it("sends a confirmation email to a pending contact; confirming subscribes them and starts the welcome flow", async () => {
    await activeFlow({
      id: "welcome",
      name: "Welcome",
      trigger: { event: "subscribed" },
      steps: [{ id: "hello", type: "email", template: "w1" }],
    });
    const put = await callJson("/v1/contacts", { method: "PUT", body: { email: "new@example.com", consent: "pending" } });
    expect(put.status).toBe(201);
    const id = put.body.id as string;
    const confirmation = await env.DB.prepare("SELECT kind, status, html FROM messages WHERE contact_id = ?")
      .bind(id)
      .first<{ kind: string; status: string; html: string }>();
    expect(confirmation).toMatchObject({ kind: "confirmation", status: "sent" });
    expect(confirmation?.html).not.toContain("/o/"); // not tracked
    const token = /https:\/\/nurture\.test\/confirm\/([^"]+)"/.exec(confirmation!.html)![1]!;
    const res = await visit(`/confirm/${token}`);
    expect(res.status).toBe(200);
    expect((await contactRow(id))?.consent).toBe("subscribed");
    expect(await eventsNamed(id, "subscribed")).toHaveLength(1);
    const welcome = await env.DB.prepare("SELECT template_id, status FROM messages WHERE contact_id = ? AND flow_id = 'welcome'")
      .bind(id)
      .first();
    expect(welcome).toEqual({ template_id: "w1", status: "sent" });
    expect((await visit(`/confirm/${token}`)).status).toBe(200); // a second click is harmless
    expect(await eventsNamed(id, "subscribed")).toHaveLength(1);
  });

  it("refuses an expired or forged confirmation link", async () => {
    const put = await callJson("/v1/contacts", { method: "PUT", body: { email: "late@example.com", consent: "pending" } });
    const expired = await signExpiringToken(env.SIGNING_SECRET!, "confirm", [put.body.id], Date.now() - 1);
    expect((await visit(`/confirm/${expired}`)).status).toBe(404);
    expect((await visit("/confirm/not-a-token")).status).toBe(404);
    expect((await contactRow(put.body.id))?.consent).toBe("pending");
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signExpiringToken, signToken } from "../../src/tracking/tokens";
import { callJson } from "../helpers/api";
import { call } from "../helpers/dashboard";
import { activeFlow, enrollmentsOf } from "../helpers/flows";
import { BROWSER, eventsNamed, sentEmail, visit } from "../helpers/tracking";

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

  it("names the shop, and tells a returning visitor who already unsubscribed so instead of asking again", async () => {
    const { unsubscribe } = await sentEmail();
    const ask = await (await visit(`/u/${unsubscribe}`)).text();
    expect(ask).toContain('<p class="shop">Tea Co</p>');
    expect(ask).toContain("<title>Unsubscribe · Tea Co</title>");
    expect(ask).toContain("Unsubscribe?");
    const done = await call(`/u/${unsubscribe}`, {
      method: "POST",
      auth: false,
      rawBody: "confirm=all-marketing",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(await done.text()).toContain("Tea Co");
    const again = await (await visit(`/u/${unsubscribe}`)).text();
    expect(again).toContain("You are already unsubscribed");
    expect(again).not.toContain('<form method="post">');
  });

  it("answers a forged token with a 404 page", async () => {
    const { unsubscribe } = await sentEmail();
    expect((await visit(`/u/${unsubscribe}x`)).status).toBe(404);
    expect((await call(`/u/${unsubscribe}x`, { method: "POST", auth: false })).status).toBe(404);
  });
});

const confirmPost = (token: string, headers: Record<string, string> = {}) =>
  call(`/confirm/${token}`, { method: "POST", auth: false, headers: { ...BROWSER, ...headers } });

/** A pending contact created through the API, and the token of the confirmation email it was sent. */
async function pendingContact(email = "new@example.com") {
  const put = await callJson("/v1/contacts", { method: "PUT", body: { email, consent: "pending" } });
  expect(put.status).toBe(201);
  const id = put.body.id as string;
  const confirmation = await env.DB.prepare("SELECT kind, status, html FROM messages WHERE contact_id = ?")
    .bind(id)
    .first<{ kind: string; status: string; html: string }>();
  expect(confirmation).toMatchObject({ kind: "confirmation", status: "sent" });
  expect(confirmation?.html).not.toContain("/o/"); // not tracked
  return { id, token: /https:\/\/nurture\.test\/confirm\/([^"]+)"/.exec(confirmation!.html)![1]! };
}

describe("double opt-in", () => {
  it("sends a confirmation email to a pending contact; confirming subscribes them and starts the welcome flow", async () => {
    await activeFlow({
      id: "welcome",
      name: "Welcome",
      trigger: { event: "subscribed" },
      steps: [{ id: "hello", type: "email", template: "w1" }],
    });
    const { id, token } = await pendingContact();
    const res = await confirmPost(token);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("you are subscribed");
    expect((await contactRow(id))?.consent).toBe("subscribed");
    expect(await eventsNamed(id, "subscribed")).toHaveLength(1);
    const welcome = await env.DB.prepare("SELECT template_id, status FROM messages WHERE contact_id = ? AND flow_id = 'welcome'")
      .bind(id)
      .first();
    expect(welcome).toEqual({ template_id: "w1", status: "sent" });
  });

  it("GET and HEAD of /confirm never confirm", async () => {
    const { id, token } = await pendingContact();
    const shown = await visit(`/confirm/${token}`);
    expect(shown.status).toBe(200);
    const html = await shown.text();
    expect(html).toContain('<form method="post">');
    expect(html).toContain('<p class="shop">Tea Co</p>');
    expect((await visit(`/confirm/${token}`, BROWSER, "HEAD")).status).toBe(200);
    expect((await contactRow(id))?.consent).toBe("pending");
    expect(await eventsNamed(id, "subscribed")).toHaveLength(0);
  });

  it("a confirm token works once and never re-subscribes someone who unsubscribed after it was issued", async () => {
    const { id, token } = await pendingContact();
    expect((await confirmPost(token)).status).toBe(200);
    const again = await confirmPost(token);
    expect(again.status).toBe(200);
    expect(await again.text()).toContain("already subscribed");
    const unsubscribeToken = await signToken(env.SIGNING_SECRET!, "unsubscribe", [id]);
    expect((await call(`/u/${unsubscribeToken}`, { method: "POST", auth: false })).status).toBe(200);
    expect((await contactRow(id))?.consent).toBe("unsubscribed");
    for (const replay of [() => confirmPost(token), () => visit(`/confirm/${token}`)]) {
      const res = await replay();
      expect(res.status).toBe(410);
      expect(await res.text()).toContain("no longer valid");
    }
    expect((await contactRow(id))?.consent).toBe("unsubscribed");
    expect(await eventsNamed(id, "subscribed")).toHaveLength(1);
  });

  it("the confirmed page ties the confirming browser to the contact through a signed _nt", async () => {
    await collect({ type: "identify", email: "fan@example.com" }, "anon-typed-0001");
    const id = (await env.DB.prepare("SELECT id FROM contacts WHERE email = 'fan@example.com'").first<string>("id"))!;
    const html = (await env.DB.prepare("SELECT html FROM messages WHERE contact_id = ?").bind(id).first<string>("html"))!;
    const token = /\/confirm\/([^"]+)"/.exec(html)![1]!;
    const page = await (await confirmPost(token)).text();
    const back = new URL(/href="([^"]+)">Continue to the shop/.exec(page)![1]!.replaceAll("&#38;", "&"));
    expect(back.origin).toBe("https://shop.test");
    const nt = back.searchParams.get("_nt")!;
    expect((await collect({ type: "page", nt }, "anon-confirmed-01")).status).toBe(202);
    const linked = await env.DB.prepare("SELECT anonymous_id FROM identities WHERE contact_id = ?").bind(id).all();
    expect(linked.results).toEqual([{ anonymous_id: "anon-confirmed-01" }]);
  });

  it("refuses an expired or forged confirmation link", async () => {
    const put = await callJson("/v1/contacts", { method: "PUT", body: { email: "late@example.com", consent: "pending" } });
    const expired = await signExpiringToken(env.SIGNING_SECRET!, "confirm", [put.body.id, Date.now() - 10], Date.now() - 1);
    expect((await visit(`/confirm/${expired}`)).status).toBe(404);
    expect((await confirmPost(expired)).status).toBe(404);
    expect((await visit("/confirm/not-a-token")).status).toBe(404);
    expect((await confirmPost("not-a-token")).status).toBe(404);
    expect((await contactRow(put.body.id))?.consent).toBe("pending");
  });

  it("confirms are rate-limited per IP", async () => {
    const { token } = await pendingContact();
    for (let i = 0; i < 30; i++) expect((await confirmPost(token, { "cf-connecting-ip": "203.0.113.9" })).status).toBe(200);
    const limited = await confirmPost(token, { "cf-connecting-ip": "203.0.113.9" });
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ error: { code: "rate_limited" } });
  });
});

function collect(message: Record<string, unknown>, anonymousId: string) {
  return call("/v1/collect", {
    method: "POST",
    auth: false,
    rawBody: JSON.stringify({ site_key: "site_test", anonymous_id: anonymousId, ...message }),
    headers: { origin: "https://shop.test", "content-type": "text/plain" },
  });
}

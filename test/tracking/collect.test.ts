import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/env";
import { signIdentityToken } from "../../src/tracking/links";
import { callJson } from "../helpers/api";
import { call } from "../helpers/dashboard";
import { activeFlow, contactId, enrollmentsOf, messagesOf, track } from "../helpers/flows";
import { eventsNamed, eventually, sentEmail, visit } from "../helpers/tracking";

const SHOP = "https://shop.test";

function collect(body: unknown, origin = SHOP, contentType = "text/plain") {
  return call("/v1/collect", {
    method: "POST",
    auth: false,
    rawBody: JSON.stringify(body),
    headers: { origin, "content-type": contentType },
  });
}

const visitor = { site_key: "site_test", anonymous_id: "anon-0001-visitor" };
const eventsOf = async (where: string, value: string) =>
  (
    await env.DB.prepare(`SELECT name, contact_id, anonymous_id, properties FROM events WHERE ${where} = ? ORDER BY rowid`)
      .bind(value)
      .all<Record<string, any>>()
  ).results;

describe("the snippet", () => {
  it("is served as cacheable, versioned JavaScript that posts to /v1/collect", async () => {
    const res = await call("/s.js", { auth: false });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("javascript");
    expect(res.headers.get("cache-control")).toContain("max-age");
    const text = await res.text();
    expect(text).toContain("/v1/collect");
    expect(text).toContain("_nt");
  });
});

describe("POST /v1/collect", () => {
  it("answers 202 with CORS for an allowed origin, and records anonymous page views", async () => {
    const res = await collect({ ...visitor, type: "page", url: "https://shop.test/tea", properties: { title: "Tea" } });
    expect(res.status).toBe(202);
    expect(res.headers.get("access-control-allow-origin")).toBe(SHOP);
    expect(await res.text()).toBe("");
    expect(await eventsOf("anonymous_id", visitor.anonymous_id)).toMatchObject([{ name: "page_viewed", contact_id: null }]);
  });

  it("answers a CORS preflight for allowed origins only", async () => {
    const ok = await call("/v1/collect", {
      method: "OPTIONS",
      auth: false,
      headers: { origin: SHOP, "access-control-request-method": "POST" },
    });
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe(SHOP);
    const evil = await call("/v1/collect", { method: "OPTIONS", auth: false, headers: { origin: "https://evil.test" } });
    expect(evil.status).toBe(403);
  });

  it("refuses other origins, a wrong site key and bad messages, writing nothing", async () => {
    expect((await collect({ ...visitor, type: "page" }, "https://evil.test")).status).toBe(403);
    expect((await collect({ ...visitor, site_key: "site_wrong", type: "page" })).status).toBe(401);
    expect((await collect({ ...visitor, type: "track" })).status).toBe(422);
    expect((await collect({ ...visitor, type: "identify" })).status).toBe(422);
    expect((await call("/v1/collect", { method: "POST", auth: false, rawBody: "{not json", headers: { origin: SHOP } })).status).toBe(400);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events").first("n")).toBe(0);
  });

  it("marks what it accepts as snippet events", async () => {
    await collect({ ...visitor, type: "track", event: "product_viewed", properties: { sku: "tea" } });
    const sources = await env.DB.prepare("SELECT name, source FROM events").all();
    expect(sources.results).toEqual([{ name: "product_viewed", source: "snippet" }]);
  });

  it("knows a visitor who arrived through a tracked link by its _nt identity, and their events start flows", async () => {
    await activeFlow({
      id: "browse",
      name: "Browse",
      trigger: { event: "product_viewed" },
      steps: [{ id: "nudge", type: "email", template: "b1" }],
    });
    const id = await contactId("known@example.com");
    const nt = await signIdentityToken(env.SIGNING_SECRET!, { contactId: id, messageId: "msg_1" }, Date.now() + 60_000);
    await collect({ ...visitor, type: "track", event: "product_viewed", nt });
    expect((await eventsOf("contact_id", id)).map((e) => e.name)).toEqual(["product_viewed", "email_sent"]);
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["b1"]);
    const forged = await collect({ ...visitor, anonymous_id: "anon-0002-other", type: "page", nt: `${nt}x` });
    expect(forged.status).toBe(202);
    expect((await eventsOf("anonymous_id", "anon-0002-other"))[0]?.contact_id).toBeNull();
  });

  it("ignores the _nt identity of a contact erased since the link was followed", async () => {
    const id = await contactId("gone@example.com");
    const nt = await signIdentityToken(env.SIGNING_SECRET!, { contactId: id, messageId: "msg_1" }, Date.now() + 60_000);
    expect((await callJson(`/v1/contacts/${id}`, { method: "DELETE" })).status).toBeLessThan(300);
    await collect({ ...visitor, anonymous_id: "anon-0003-after", type: "page", nt });
    const [event] = await eventsOf("anonymous_id", "anon-0003-after");
    expect(event?.contact_id).toBeNull();
    expect(await env.DB.prepare("SELECT count(*) AS n FROM identities WHERE contact_id = ?").bind(id).first("n")).toBe(0);
  });
});

function collectFrom(ip: string, body: unknown) {
  return call("/v1/collect", {
    method: "POST",
    auth: false,
    rawBody: JSON.stringify(body),
    headers: { origin: SHOP, "content-type": "text/plain", "cf-connecting-ip": ip },
  });
}

const contactByEmail = (email: string) => env.DB.prepare("SELECT * FROM contacts WHERE email = ?").bind(email).first<Record<string, any>>();
const mailTo = async (email: string) =>
  (await env.DB.prepare("SELECT kind, status, subject FROM messages WHERE to_email = ? ORDER BY created_at").bind(email).all()).results;
const linkedContact = (anonymousId: string) =>
  env.DB.prepare("SELECT contact_id FROM identities WHERE anonymous_id = ?").bind(anonymousId).first<string>("contact_id");

async function identitySignature(email: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(env.IDENTITY_SECRET!),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(email.toLowerCase())));
  return [...mac].map((b) => b.toString(16).padStart(2, "0")).join("");
}

describe("the site key sends no system events", () => {
  it("system event names from the snippet are refused with 422 and nothing is stored", async () => {
    for (const event of [
      "email_bounced",
      "email_delivered",
      "unsubscribed",
      "subscribed",
      "identified",
      "attribute_changed",
      "email_whatever",
    ]) {
      const res = await collect({ ...visitor, type: "track", event, properties: { flow_id: "welcome" } });
      expect(res.status, event).toBe(422);
      const body = (await res.json()) as { error: { code: string; issues: { path: unknown[] }[] } };
      expect(body.error.code).toBe("validation_failed");
      expect(body.error.issues[0]?.path).toEqual(["event"]);
    }
    const batch = await collect([
      { ...visitor, type: "track", event: "product_viewed" },
      { ...visitor, type: "track", event: "email_complained" },
    ]);
    expect(batch.status).toBe(422);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events").first("n")).toBe(0);
  });

  it("a forged bounce or unsubscribe cannot reach a flow's report or end an enrollment", async () => {
    const { contact } = await sentEmail([{ id: "later", type: "wait", for: "1d" }]);
    const nt = await signIdentityToken(env.SIGNING_SECRET!, { contactId: contact, messageId: "msg_1" }, Date.now() + 60_000);
    expect((await collect({ ...visitor, nt, type: "track", event: "email_bounced", properties: { flow_id: "news" } })).status).toBe(422);
    expect((await collect({ ...visitor, nt, type: "track", event: "unsubscribed" })).status).toBe(422);
    const stats = await env.DB.prepare("SELECT sum(bounces) AS bounces, sum(unsubscribes) AS unsubscribes FROM stats_daily").first();
    expect(stats).toEqual({ bounces: 0, unsubscribes: 0 });
    expect(await enrollmentsOf(contact)).toMatchObject([{ status: "active" }]);
  });
});

describe("snippet events carry no money", () => {
  it("a snippet order_placed does not change orders_count or total_spent and earns no revenue", async () => {
    const { contact, clicks } = await sentEmail();
    expect((await visit(`/c/${clicks[0]}`)).status).toBe(302);
    await eventually(
      () => eventsNamed(contact, "email_clicked"),
      (rows) => rows.length === 1,
    );
    const nt = await signIdentityToken(env.SIGNING_SECRET!, { contactId: contact, messageId: "msg_1" }, Date.now() + 60_000);
    const res = await collect({ ...visitor, nt, type: "track", event: "order_placed", properties: { value: 5000, currency: "EUR" } });
    expect(res.status).toBe(202);
    expect(await contactByEmail("reader@example.com")).toMatchObject({ orders_count: 0, total_spent: 0, last_order_at: null });
    expect(await env.DB.prepare("SELECT coalesce(sum(revenue), 0) AS r FROM stats_daily").first("r")).toBe(0);
    // The same order from the shop's backend counts, and is attributed to the clicked email.
    await track({ contact_id: contact, name: "order_placed", value: 40, properties: { currency: "EUR" } });
    expect(await contactByEmail("reader@example.com")).toMatchObject({ orders_count: 1, total_spent: 40 });
    expect(await env.DB.prepare("SELECT coalesce(sum(revenue), 0) AS r FROM stats_daily").first("r")).toBe(40);
  });
});

describe("identify without proof", () => {
  it("identify of an existing customer changes none of their fields and links nothing", async () => {
    const id = await contactId("ada@example.com", {
      first_name: "Ada",
      last_name: "Lovelace",
      attributes: { owner_email: "rep@shop.test", plan: "gold" },
      consent: "subscribed",
    });
    const before = await contactByEmail("ada@example.com");
    await collect({ ...visitor, type: "track", event: "product_viewed" });
    const res = await collect({
      ...visitor,
      type: "identify",
      email: "ADA@example.com",
      traits: { first_name: "Mallory", last_name: "X", owner_email: "evil@evil.test", plan: "free", consent: "unsubscribed" },
    });
    expect(res.status).toBe(202);
    expect(await contactByEmail("ada@example.com")).toEqual(before);
    expect(await linkedContact(visitor.anonymous_id)).toBeNull();
    const events = await eventsOf("anonymous_id", visitor.anonymous_id);
    expect(events.map((e) => [e.name, e.contact_id])).toEqual([
      ["product_viewed", null],
      ["identified", null],
    ]);
    expect(await messagesOf(id)).toEqual([]);
  });

  it("an unknown address becomes a pending contact with only the allowed traits, and gets the confirmation email", async () => {
    const res = await collect({
      ...visitor,
      type: "identify",
      email: "New@Example.com",
      traits: { first_name: "Nia", last_name: "Ng", owner_email: "evil@evil.test", orders_count: 99, lifecycle_stage: "customer" },
    });
    expect(res.status).toBe(202);
    const contact = await contactByEmail("new@example.com");
    expect(contact).toMatchObject({ first_name: "Nia", last_name: "Ng", consent: "pending", orders_count: 0, lifecycle_stage: null });
    expect(JSON.parse(contact!.attributes)).toEqual({});
    expect(await mailTo("new@example.com")).toEqual([
      { kind: "confirmation", status: "sent", subject: "Please confirm your subscription" },
    ]);
    // The typing browser is not tied to the address: only the one that confirms will be.
    expect(await linkedContact(visitor.anonymous_id)).toBeNull();
  });

  it("the site key cannot make Nurture email an unconfirmed address twice in a day", async () => {
    await activeFlow({
      id: "dunning",
      name: "Failed payment",
      trigger: { event: "payment_failed" },
      settings: { transactional: true },
      steps: [{ id: "fix", type: "email", template: "pay" }],
    });
    for (let i = 0; i < 4; i++) {
      const anonymous_id = `anon-stranger-${i}-0000`;
      await collect({ ...visitor, anonymous_id, type: "identify", email: "victim@example.com" });
      await collect({ ...visitor, anonymous_id, type: "track", event: "payment_failed" });
      await collect({ ...visitor, anonymous_id, type: "track", event: "payment_succeeded" });
    }
    expect(await mailTo("victim@example.com")).toEqual([
      { kind: "confirmation", status: "sent", subject: "Please confirm your subscription" },
    ]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM enrollments").first("n")).toBe(0);
  });
});

describe("identify with proof", () => {
  it("an identity_signature ties the browser to the contact; a wrong one does not", async () => {
    const id = await contactId("cus@example.com", { first_name: "Cus" });
    const wrong = await collect({
      ...visitor,
      type: "identify",
      email: "cus@example.com",
      identity_signature: await identitySignature("someone-else@example.com"),
    });
    expect(wrong.status).toBe(202);
    expect(await linkedContact(visitor.anonymous_id)).toBeNull();
    await collect({ ...visitor, type: "track", event: "product_viewed" });
    const right = await collect({
      ...visitor,
      type: "identify",
      email: "Cus@Example.com",
      identity_signature: await identitySignature("cus@example.com"),
      traits: { first_name: "Changed" },
    });
    expect(right.status).toBe(202);
    expect(await linkedContact(visitor.anonymous_id)).toBe(id);
    // Earlier anonymous events are stitched; the proven identify still overwrites nothing.
    const stitched = (await eventsOf("anonymous_id", visitor.anonymous_id)).map((e) => [e.name, e.contact_id]);
    expect(stitched).toEqual([
      ["identified", id],
      ["product_viewed", id],
      ["identified", id],
    ]);
    expect((await contactByEmail("cus@example.com"))?.first_name).toBe("Cus");
    expect((await collect({ ...visitor, type: "identify", email: "cus@example.com", identity_signature: "zz" })).status).toBe(422);
  });
});

describe("flows the snippet can start", () => {
  it("a snippet event of a pending contact never starts a transactional or notify flow", async () => {
    await activeFlow({
      id: "receipt",
      name: "Receipt",
      trigger: { event: "payment_failed" },
      settings: { transactional: true },
      steps: [{ id: "fix", type: "email", template: "pay" }],
    });
    await activeFlow({
      id: "alert",
      name: "Rep alert",
      trigger: { event: "payment_failed" },
      steps: [{ id: "tell", type: "notify", to: "rep@shop.test", template: "alert" }],
    });
    const pending = await contactId("pen@example.com", { consent: "pending" });
    const nt = await signIdentityToken(env.SIGNING_SECRET!, { contactId: pending, messageId: "msg_1" }, Date.now() + 60_000);
    expect((await collect({ ...visitor, nt, type: "track", event: "payment_failed" })).status).toBe(202);
    expect(await enrollmentsOf(pending)).toEqual([]);
    expect(await mailTo("rep@shop.test")).toEqual([]);
    // The shop's backend is not a stranger: the same event from the admin API starts both.
    await track({ contact_id: pending, name: "payment_failed" });
    expect((await enrollmentsOf(pending)).map((e) => e.flow_id).sort()).toEqual(["alert", "receipt"]);
  });
});

describe("rate limits on collect", () => {
  it("collect is rate-limited per IP", async () => {
    const page = { ...visitor, type: "page" };
    for (let i = 0; i < 120; i++) expect((await collectFrom("203.0.113.7", page)).status).toBe(202);
    const limited = await collectFrom("203.0.113.7", page);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("60");
    expect(await limited.json()).toMatchObject({ error: { code: "rate_limited" } });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events").first("n")).toBe(120);
    expect((await collectFrom("203.0.113.8", page)).status).toBe(202);
  });

  it("identify without a signature is rate-limited per address, whatever the IP", async () => {
    const identify = { ...visitor, type: "identify", email: "target@example.com" };
    for (let i = 0; i < 10; i++) expect((await collectFrom(`198.51.100.${i}`, identify)).status).toBe(202);
    expect((await collectFrom("198.51.100.99", identify)).status).toBe(429);
    expect((await collectFrom("198.51.100.99", { ...identify, email: "other@example.com" })).status).toBe(202);
    // The real customer, signed in and vouched for by the shop's backend, is not locked out by a stranger.
    const signed = { ...identify, identity_signature: await identitySignature("target@example.com") };
    expect((await collectFrom("198.51.100.99", signed)).status).toBe(202);
    expect(await linkedContact(visitor.anonymous_id)).toBe((await contactByEmail("target@example.com"))?.id);
  });

  it("one IP can sign up at most 10 addresses an hour, so it cannot mail-bomb a list", async () => {
    for (let i = 0; i < 10; i++) {
      expect((await collectFrom("192.0.2.1", { ...visitor, type: "identify", email: `list${i}@example.com` })).status).toBe(202);
    }
    const limited = await collectFrom("192.0.2.1", { ...visitor, type: "identify", email: "list10@example.com" });
    expect(limited.status).toBe(429);
    expect(await contactByEmail("list10@example.com")).toBeNull();
    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE kind = 'confirmation'").first("n")).toBe(10);
  });
});

describe("SNIPPET_TRAITS", () => {
  it("defaults to first and last name, takes the shop's list, and refuses fields that carry consent or money", () => {
    expect(readConfig({ ...env }).SNIPPET_TRAITS).toEqual(["first_name", "last_name"]);
    expect(readConfig({ ...env, SNIPPET_TRAITS: "first_name, company" }).SNIPPET_TRAITS).toEqual(["first_name", "company"]);
    for (const bad of ["consent", "first_name,total_spent", "email", "orders_count", "tags"]) {
      expect(() => readConfig({ ...env, SNIPPET_TRAITS: bad }), bad).toThrow(/snippet may never set/);
    }
  });
});

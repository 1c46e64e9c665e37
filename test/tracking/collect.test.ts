import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signIdentityToken } from "../../src/tracking/links";
import { callJson } from "../helpers/api";
import { call } from "../helpers/dashboard";
import { activeFlow, contactId, messagesOf } from "../helpers/flows";

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

  it("stitches a visitor's earlier events to the contact they identify as, who starts pending", async () => {
    await collect({ ...visitor, type: "track", event: "product_viewed", properties: { sku: "tea" } });
    expect(
      (
        await collect({
          ...visitor,
          type: "identify",
          email: "Vis@Example.com",
          traits: { first_name: "Vi", plan: "pro", consent: "subscribed" },
        })
      ).status,
    ).toBe(202);
    const contact = await env.DB.prepare("SELECT id, first_name, consent, attributes FROM contacts WHERE email = 'vis@example.com'").first<
      Record<string, any>
    >();
    expect(contact).toMatchObject({ first_name: "Vi", consent: "pending" });
    expect(JSON.parse(contact!.attributes)).toEqual({ plan: "pro", consent: "subscribed" }); // a trait, not the consent field
    const events = await eventsOf("anonymous_id", visitor.anonymous_id);
    expect(events.map((e) => `${e.name}:${e.contact_id === contact!.id}`)).toEqual(["product_viewed:true", "identified:true"]);
    await collect({ ...visitor, type: "track", event: "added_to_cart" });
    expect((await eventsOf("contact_id", contact!.id)).map((e) => e.name)).toContain("added_to_cart");
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

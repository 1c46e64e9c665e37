import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { contactTimer } from "../../src/contact/dispatch";
import { callJson } from "../helpers/api";
import { countRowsNaming } from "../helpers/db";

describe("PUT /v1/contacts upserts by email", () => {
  it("creates a contact with a normalised email and answers 201", async () => {
    const { status, body } = await callJson("/v1/contacts", {
      method: "PUT",
      body: { email: "  Ada@Example.COM ", first_name: "Ada", timezone: "Europe/London", tags: ["vip"], attributes: { plan: "pro" } },
    });
    expect(status).toBe(201);
    expect(body).toMatchObject({
      email: "ada@example.com",
      first_name: "Ada",
      timezone: "Europe/London",
      tags: ["vip"],
      consent: "none",
    });
    const row = await env.DB.prepare("SELECT email, first_name, attributes, tags FROM contacts WHERE id = ?").bind(body.id).first();
    expect(row).toEqual({ email: "ada@example.com", first_name: "Ada", attributes: '{"plan":"pro"}', tags: '["vip"]' });
  });

  it("merges attributes, adds tags and keeps fields it was not given", async () => {
    await callJson("/v1/contacts", {
      method: "PUT",
      body: { email: "bo@example.com", first_name: "Bo", attributes: { a: 1, b: 2 }, tags: ["x"] },
    });
    const { status, body } = await callJson("/v1/contacts", {
      method: "PUT",
      body: { email: "BO@example.com", attributes: { b: 3, c: 4, a: null }, tags: ["y", "x"], lifecycle_stage: "customer" },
    });
    expect(status).toBe(200);
    expect(body.first_name).toBe("Bo");
    expect(body.attributes).toEqual({ b: 3, c: 4 });
    expect([...body.tags].sort()).toEqual(["x", "y"]);
    expect(body.lifecycle_stage).toBe("customer");
    const count = await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE email = 'bo@example.com'").first("n");
    expect(count).toBe(1);
  });

  it("emits attribute_changed for each changed attribute to the contact's ContactTimer", async () => {
    const { body: created } = await callJson("/v1/contacts", { method: "PUT", body: { email: "cy@example.com" } });
    await callJson("/v1/contacts", {
      method: "PUT",
      body: { email: "cy@example.com", lifecycle_stage: "customer", attributes: { industry: "health" } },
    });
    const received = await contactTimer(env, created.id).receivedEvents();
    const changes = received.filter((e) => e.name === "attribute_changed").map((e) => e.properties);
    expect(changes).toEqual(
      expect.arrayContaining([
        { attribute: "lifecycle_stage", from: null, to: "customer" },
        { attribute: "industry", from: null, to: "health" },
      ]),
    );
    const stored = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ? AND name = 'attribute_changed'")
      .bind(created.id)
      .first("n");
    expect(stored).toBe(received.filter((e) => e.name === "attribute_changed").length);
  });

  it("emits subscribed when consent is explicitly set to subscribed", async () => {
    const { body } = await callJson("/v1/contacts", { method: "PUT", body: { email: "di@example.com", consent: "unsubscribed" } });
    await callJson("/v1/contacts", { method: "PUT", body: { email: "di@example.com", consent: "subscribed" } });
    const names = (await contactTimer(env, body.id).receivedEvents()).map((e) => e.name);
    expect(names).toContain("unsubscribed");
    expect(names).toContain("subscribed");
  });
});

describe("GET /v1/contacts/:idOrEmail", () => {
  it("returns the profile by id or by email with recent events", async () => {
    const { body: created } = await callJson("/v1/contacts", { method: "PUT", body: { email: "eve@example.com", last_name: "Lovelace" } });
    await callJson("/v1/events", { method: "POST", body: { email: "eve@example.com", name: "product_viewed", properties: { sku: "A1" } } });
    const byId = await callJson(`/v1/contacts/${created.id}`);
    const byEmail = await callJson("/v1/contacts/EVE%40example.com");
    expect(byId.status).toBe(200);
    expect(byEmail.body.id).toBe(created.id);
    expect(byId.body.last_name).toBe("Lovelace");
    expect(byId.body.recent_events.map((e: { name: string }) => e.name)).toContain("product_viewed");
    expect(byId.body.enrollments).toEqual([]);
    expect(byId.body.recent_messages).toEqual([]);
  });

  it("answers 404 for an unknown contact", async () => {
    const { status, body } = await callJson("/v1/contacts/nobody%40example.com");
    expect(status).toBe(404);
    expect(body.error.code).toBe("not_found");
  });
});

describe("DELETE /v1/contacts/:idOrEmail erases the contact", () => {
  it("leaves no row naming the contact and empties its ContactTimer", async () => {
    const { body: contact } = await callJson("/v1/contacts", { method: "PUT", body: { email: "gone@example.com", tags: ["t"] } });
    await callJson("/v1/events", { method: "POST", body: [{ email: "gone@example.com", name: "order_placed", value: 10 }] });
    const now = Date.now();
    await env.DB.batch([
      env.DB.prepare(
        "INSERT INTO messages (id, contact_id, to_email, kind, status, due_at, created_at) VALUES ('m_gone', ?, 'gone@example.com', 'marketing', 'sent', ?, ?)",
      ).bind(contact.id, now, now),
      env.DB.prepare("INSERT INTO links (message_id, idx, url) VALUES ('m_gone', 0, 'https://shop.test/a')"),
      env.DB.prepare(
        "INSERT INTO enrollments (id, contact_id, flow_id, flow_version, status, entered_at) VALUES ('e_gone', ?, 'welcome', 1, 'active', ?)",
      ).bind(contact.id, now),
      env.DB.prepare("INSERT INTO identities (anonymous_id, contact_id, created_at) VALUES ('anon_gone', ?, ?)").bind(contact.id, now),
      env.DB.prepare(
        "INSERT INTO events (id, anonymous_id, name, properties, source, ts, received_at) VALUES ('ev_anon_gone', 'anon_gone', 'page_viewed', '{}', 'collect', ?, ?)",
      ).bind(now, now),
      env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES ('gone@example.com', 'manual', ?)").bind(now),
    ]);
    expect(await countRowsNaming(contact.id, "gone@example.com")).toBeGreaterThan(0);

    const response = await callJson(`/v1/contacts/${contact.id}`, { method: "DELETE" });
    expect(response.status).toBe(204);
    expect(await countRowsNaming(contact.id, "gone@example.com")).toBe(0);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events WHERE id = 'ev_anon_gone'").first("n")).toBe(0);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM links WHERE message_id = 'm_gone'").first("n")).toBe(0);
    const stored = await runInDurableObject(contactTimer(env, contact.id), async (_instance, state) => {
      return state.storage.sql.exec("SELECT count(*) AS n FROM received_events").one().n;
    });
    expect(stored).toBe(0);
    expect((await callJson(`/v1/contacts/${contact.id}`)).status).toBe(404);
  });

  it("answers 404 when there is nothing to erase", async () => {
    expect((await callJson("/v1/contacts/c_missing", { method: "DELETE" })).status).toBe(404);
  });
});

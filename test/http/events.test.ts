import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { contactTimer } from "../../src/contact/dispatch";
import { callJson } from "../helpers/api";
import { countRows } from "../helpers/db";

describe("POST /v1/events stores events and hands them to the contact's ContactTimer", () => {
  it("creates an unknown contact by email and stores the event with its timestamp", async () => {
    const { status, body } = await callJson("/v1/events", {
      method: "POST",
      body: { email: "New@Example.com", name: "signed_up", properties: { source: "footer" }, ts: "2026-11-01T10:00:00Z" },
    });
    expect(status).toBe(202);
    expect(body.accepted).toBe(1);
    const contact = await env.DB.prepare("SELECT id FROM contacts WHERE email = 'new@example.com'").first<{ id: string }>();
    expect(contact).not.toBeNull();
    const event = await env.DB.prepare("SELECT name, properties, ts, source FROM events WHERE contact_id = ?").bind(contact?.id).first();
    expect(event).toEqual({ name: "signed_up", properties: '{"source":"footer"}', ts: Date.parse("2026-11-01T10:00:00Z"), source: "api" });
    const received = await contactTimer(env, contact!.id).receivedEvents();
    expect(received.map((e) => [e.name, e.ts])).toEqual([["signed_up", Date.parse("2026-11-01T10:00:00Z")]]);
  });

  it("defaults ts to now", async () => {
    const before = Date.now();
    await callJson("/v1/events", { method: "POST", body: { email: "ts@example.com", name: "ping" } });
    const ts = Number(await env.DB.prepare("SELECT ts FROM events WHERE name = 'ping'").first("ts"));
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(Date.now());
  });

  it("accepts events by contact_id", async () => {
    const { body: contact } = await callJson("/v1/contacts", { method: "PUT", body: { email: "byid@example.com" } });
    const { status } = await callJson("/v1/events", { method: "POST", body: { contact_id: contact.id, name: "form_submitted" } });
    expect(status).toBe(202);
    expect(
      await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ? AND name = 'form_submitted'").bind(contact.id).first("n"),
    ).toBe(1);
  });

  it("rejects an unknown contact_id with 404 and writes nothing, even beside valid events", async () => {
    const before = await countRows("events");
    const { status, body } = await callJson("/v1/events", {
      method: "POST",
      body: [
        { email: "fine@example.com", name: "x" },
        { contact_id: "c_nope", name: "x" },
      ],
    });
    expect(status).toBe(404);
    expect(body.error.code).toBe("contact_not_found");
    expect(body.error.issues[0].path).toEqual([1, "contact_id"]);
    expect(await countRows("events")).toBe(before);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE email = 'fine@example.com'").first("n")).toBe(0);
  });
});

describe("an event id makes the event idempotent", () => {
  it("stores and processes the same id once, across requests and within a batch", async () => {
    const event = { id: "order-1001", email: "idem@example.com", name: "order_placed", value: 40 };
    const first = await callJson("/v1/events", { method: "POST", body: event });
    const second = await callJson("/v1/events", { method: "POST", body: [event, event] });
    expect(first.body).toMatchObject({ accepted: 1, duplicates: 0 });
    expect(second.body).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events WHERE id = 'order-1001'").first("n")).toBe(1);
    const contact = await env.DB.prepare("SELECT id, orders_count, total_spent FROM contacts WHERE email = 'idem@example.com'").first<{
      id: string;
      orders_count: number;
      total_spent: number;
    }>();
    expect(contact).toMatchObject({ orders_count: 1, total_spent: 40 });
    const received = await contactTimer(env, contact!.id).receivedEvents();
    expect(received.filter((e) => e.id === "order-1001")).toHaveLength(1);
  });
});

describe("order_placed maintains the contact's order attributes", () => {
  it("counts orders, sums value (or properties.value) and keeps the latest order time", async () => {
    await callJson("/v1/events", {
      method: "POST",
      body: [
        { email: "buyer@example.com", name: "order_placed", value: 25.5, ts: "2026-10-01T00:00:00Z" },
        { email: "buyer@example.com", name: "order_placed", properties: { value: 10, currency: "EUR" }, ts: "2026-10-05T00:00:00Z" },
        { email: "buyer@example.com", name: "product_viewed", value: 99 },
      ],
    });
    const { body } = await callJson("/v1/contacts/buyer%40example.com");
    expect(body.orders_count).toBe(2);
    expect(body.total_spent).toBeCloseTo(35.5);
    expect(body.last_order_at).toBe("2026-10-05T00:00:00.000Z");
  });
});

describe("batch limits", () => {
  it("accepts a batch of 500 events", async () => {
    const batch = Array.from({ length: 500 }, (_, i) => ({
      id: `bulk-${i}`,
      email: `bulk${i % 50}@example.com`,
      name: "product_viewed",
      properties: { i },
    }));
    const { status, body } = await callJson("/v1/events", { method: "POST", body: batch });
    expect(status).toBe(202);
    expect(body.accepted).toBe(500);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events WHERE id LIKE 'bulk-%'").first("n")).toBe(500);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE email LIKE 'bulk%'").first("n")).toBe(50);
  });

  it("rejects a batch of 501 events with 422 and writes nothing", async () => {
    const before = await countRows("events");
    const batch = Array.from({ length: 501 }, (_, i) => ({ email: `over${i}@example.com`, name: "x" }));
    const { status, body } = await callJson("/v1/events", { method: "POST", body: batch });
    expect(status).toBe(422);
    expect(body.error.code).toBe("validation_failed");
    expect(await countRows("events")).toBe(before);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE email LIKE 'over%'").first("n")).toBe(0);
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { contactFacts } from "../../src/db/contacts";
import { contacts } from "../../src/db/schema";
import { evaluateCondition } from "../../src/flows/conditions";
import type { Condition } from "../../src/flows/schema";
import { callJson } from "../helpers/api";
import { activeFlow, contactId, messagesOf, track } from "../helpers/flows";

const DAY = 86_400_000;

async function seed() {
  await contactId("a@example.com", {
    lifecycle_stage: "customer",
    tags: ["vip"],
    attributes: { plan: "pro", seats: 12, topics: ["healthcare", "retail"], renewal_date: "2027-01-15" },
  });
  await contactId("b@example.com", { lifecycle_stage: "lead", attributes: { plan: "free", seats: 1, industry: "Healthcare tech" } });
  await contactId("c@example.com", { tags: ["vip", "dormant"], attributes: { seats: "7" } });
  await track([
    { email: "a@example.com", name: "order_placed", value: 120, properties: { items: [{ sku: "tea" }] } },
    { email: "a@example.com", name: "order_placed", value: 30, ts: Date.now() - 60 * DAY },
    { email: "b@example.com", name: "order_placed", value: 10 },
  ]);
}

const conditions: Record<string, Condition> = {
  customers: { attr: "lifecycle_stage", op: "eq", value: "customer" },
  vipNotDormant: { all: [{ tag: "vip" }, { not: { tag: "dormant" } }] },
  bigSpenders: { attr: "total_spent", op: "gte", value: 100 },
  ordersRecently: { event: "order_placed", within: "30d", count: { op: "gte", value: 1 } },
  twoOrdersEver: { event: "order_placed", count: { op: "gte", value: 2 } },
  teaBuyers: { event: "order_placed", where: { prop: "items.0.sku", op: "eq", value: "tea" } },
  healthcare: {
    any: [
      { attr: "topics", op: "contains", value: "healthcare" },
      { attr: "industry", op: "contains", value: "HEALTHCARE" },
    ],
  },
  planIn: { attr: "plan", op: "in", value: ["pro", "team"] },
  planNotIn: { attr: "plan", op: "nin", value: ["pro"] },
  manySeats: { attr: "seats", op: "gt", value: 5 },
  sevenSeats: { attr: "seats", op: "eq", value: 7 },
  seatsIn: { attr: "seats", op: "in", value: ["12", 7] },
  seatsNotIn: { attr: "seats", op: "nin", value: [1] },
  noPlan: { attr: "plan", op: "exists", value: false },
  renewsSoon: { attr: "renewal_date", op: "before", value: "2027-02-01" },
  orderedLongAgo: { attr: "last_order_at", op: "before", value: "1d" },
};

describe("segments", () => {
  it("list exactly the contacts the flow engine's own evaluator would match, for every kind of condition", async () => {
    await seed();
    const now = Date.now();
    const rows = await openDatabase(env.DB).select().from(contacts);
    for (const [id, condition] of Object.entries(conditions)) {
      const put = await callJson(`/v1/segments/${id}`, { method: "PUT", body: { name: id, condition } });
      expect(put.status, JSON.stringify(put.body)).toBe(201);
      const listed = (await callJson(`/v1/segments/${id}/contacts`)).body.contacts.map((c: { email: string }) => c.email).sort();
      const expected: string[] = [];
      for (const r of rows) {
        const contact = contactFacts(r, false);
        const counts = await env.DB.prepare("SELECT name, ts, properties FROM events WHERE contact_id = ?").bind(contact.id).all<{
          name: string;
          ts: number;
          properties: string;
        }>();
        const matched = evaluateCondition(condition, {
          contact,
          now,
          countEvents: (c) =>
            counts.results.filter(
              (e) =>
                e.name === c.event &&
                (!c.within || e.ts >= now - 30 * DAY) &&
                (!c.where ||
                  evaluateCondition(c.where, {
                    contact,
                    now,
                    countEvents: () => 0,
                    event: { name: e.name, properties: JSON.parse(e.properties), value: null, ts: e.ts },
                  })),
            ).length,
        });
        if (matched) expected.push(contact.email);
      }
      expect(listed, id).toEqual(expected.sort());
    }
    expect((await callJson("/v1/segments/customers/contacts")).body.contacts.map((c: { email: string }) => c.email)).toEqual([
      "a@example.com",
    ]);
    expect((await callJson("/v1/segments/manySeats/contacts")).body.contacts).toHaveLength(2); // numeric text compares as a number
  });

  it("pages members with a cursor, and 404s an unknown segment", async () => {
    for (let i = 0; i < 5; i++) await contactId(`p${i}@example.com`, { tags: ["page"] });
    await callJson("/v1/segments/paged", { method: "PUT", body: { name: "Paged", condition: { tag: "page" } } });
    const first = await callJson("/v1/segments/paged/contacts?limit=3");
    expect(first.body.contacts).toHaveLength(3);
    const second = await callJson(`/v1/segments/paged/contacts?limit=3&after=${first.body.next_cursor}`);
    expect(second.body.contacts).toHaveLength(2);
    expect(second.body.next_cursor).toBeNull();
    expect((await callJson("/v1/segments/none/contacts")).status).toBe(404);
    expect((await callJson("/v1/segments/paged", { method: "DELETE" })).status).toBe(204);
  });

  it("start a segment_entered flow when a contact comes to match", async () => {
    await env.DB.prepare("INSERT INTO templates (id, subject, html, created_at, updated_at) VALUES ('vip-welcome', 's', 'h', 0, 0)").run();
    await callJson("/v1/segments/vip", { method: "PUT", body: { name: "VIP", condition: { attr: "total_spent", op: "gte", value: 100 } } });
    await callJson("/v1/flows/vip", {
      method: "PUT",
      body: { name: "VIP", trigger: { segment_entered: "vip" }, steps: [{ id: "e", type: "email", template: "vip-welcome" }] },
    });
    await callJson("/v1/flows/vip/activate", { method: "POST" });
    const id = await contactId("spender@example.com");
    await track({ contact_id: id, name: "order_placed", value: 50 });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE contact_id = ?").bind(id).first("n")).toBe(0);
    await track({ contact_id: id, name: "order_placed", value: 60 });
    await track({ contact_id: id, name: "order_placed", value: 70 });
    expect(await env.DB.prepare("SELECT template_id FROM messages WHERE contact_id = ?").bind(id).all()).toMatchObject({
      results: [{ template_id: "vip-welcome" }],
    });
  });
});

describe("a condition binds one parameter however many parts it has (D1 binds at most 100)", () => {
  const FORTY = 40;
  const attributes = Object.fromEntries(Array.from({ length: FORTY }, (_, i) => [`k${i}`, `v${i}`]));
  const fortyAttributes: Condition = {
    all: Array.from(
      { length: FORTY },
      (_, i): Condition => (i % 2 ? { attr: `k${i}`, op: "eq", value: `v${i}` } : { attr: `k${i}`, op: "in", value: [`v${i}`, i] }),
    ),
  };

  it("a segment of 40 conditions lists its members", async () => {
    await contactId("all40@example.com", { attributes });
    await contactId("missing-one@example.com", { attributes: { ...attributes, k39: "other" } });
    const put = await callJson("/v1/segments/forty", { method: "PUT", body: { name: "Forty", condition: fortyAttributes } });
    expect(put.status, JSON.stringify(put.body)).toBe(201);
    const listed = await callJson("/v1/segments/forty/contacts");
    expect(listed.status).toBe(200);
    expect(listed.body.contacts.map((c: { email: string }) => c.email)).toEqual(["all40@example.com"]);
  });

  it("a segment of more comparisons than one statement can hold is refused with 422, and nothing is stored", async () => {
    const grid: Condition = {
      all: Array.from(
        { length: 20 },
        (_, i): Condition => ({ any: Array.from({ length: 10 }, (_, j) => ({ attr: `k${i}`, op: "eq", value: j })) }),
      ),
    };
    const put = await callJson("/v1/segments/grid", { method: "PUT", body: { name: "Grid", condition: grid } });
    expect(put.status).toBe(422);
    expect(put.body.error.code).toBe("validation_failed");
    expect((await callJson("/v1/segments/grid/contacts")).status).toBe(404);
  });

  it("a segment nested as deep as allowed lists its members; deeper, or a behaviour inside a behaviour, is refused with 422", async () => {
    await contactId("deep@example.com", { attributes });
    let deep: Condition = { attr: "k0", op: "eq", value: 0 };
    for (let level = 0; level < 8; level++) deep = level % 2 ? { any: [deep] } : { not: { not: deep } };
    const nested = (condition: Condition, id: string) => callJson(`/v1/segments/${id}`, { method: "PUT", body: { name: id, condition } });
    const put = await nested(deep, "deep");
    expect(put.status, JSON.stringify(put.body)).toBe(422);
    let allowed: Condition = { attr: "k0", op: "eq", value: 0 };
    for (let level = 0; level < 8; level++) allowed = level % 2 ? { any: [allowed] } : { not: allowed };
    expect((await nested(allowed, "allowed")).status).toBe(201);
    const listed = await callJson("/v1/segments/allowed/contacts");
    expect(listed.status).toBe(200);
    const inner: Condition = { event: "order_placed", within: "30d", where: { event: "page_viewed", within: "1d" } };
    const refused = await nested(inner, "inner");
    expect(refused.status).toBe(422);
    expect((await callJson("/v1/segments/inner/contacts")).status).toBe(404);
  });

  it("a branch on a behaviour with 40 property conditions counts the contact's events", async () => {
    const properties = Object.fromEntries(Array.from({ length: FORTY }, (_, i) => [`p${i}`, i]));
    const where: Condition = { all: Array.from({ length: FORTY }, (_, i): Condition => ({ prop: `p${i}`, op: "gte", value: i })) };
    await activeFlow({
      id: "forty-props",
      name: "Forty props",
      trigger: { event: "go" },
      steps: [
        { id: "check", type: "branch", if: { event: "order_placed", where }, then: "yes", else: "no" },
        { id: "yes", type: "email", template: "forty-yes", next: "done" },
        { id: "no", type: "email", template: "forty-no" },
        { id: "done", type: "exit" },
      ],
    });
    const matching = await contactId("props-all@example.com");
    const other = await contactId("props-short@example.com");
    await track([
      { contact_id: matching, name: "order_placed", properties },
      { contact_id: other, name: "order_placed", properties: { ...properties, p39: 0 } },
    ]);
    await track([
      { contact_id: matching, name: "go" },
      { contact_id: other, name: "go" },
    ]);
    expect((await messagesOf(matching)).map((m) => m.template_id)).toEqual(["forty-yes"]);
    expect((await messagesOf(other)).map((m) => m.template_id)).toEqual(["forty-no"]);
  });
});

/**
 * The largest condition the schemas allow, of each kind, compiles to one D1 statement far under its 100 KB limit and
 * is counted right by every route that counts a condition; one comparison more is refused with 422 and stores nothing.
 */
import { env } from "cloudflare:workers";
import { sql } from "drizzle-orm";
import { SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { saveBroadcast } from "../../src/db/broadcasts";
import { openDatabase } from "../../src/db/client";
import { conditionSql } from "../../src/db/conditions";
import { type Condition, MAX_CONDITION_PARTS } from "../../src/flows/schema";
import { template } from "../broadcasts/helpers";
import { callJson } from "../helpers/api";
import { contactId, track } from "../helpers/flows";

/** D1 refuses a statement longer than this. */
const D1_STATEMENT_LIMIT = 100_000;
/** Where the compiled SQL must stay: far below the limit, leaving room for what the routes put around it. */
const SIZE_BUDGET = D1_STATEMENT_LIMIT / 2;
/** The most parts one all/any holds. */
const GROUP_MAX = 50;

/** `parts` joined by `kind` in groups of at most 50, as the schema requires. */
function grouped(kind: "all" | "any", parts: Condition[]): Condition {
  const groups: Condition[] = [];
  for (let i = 0; i < parts.length; i += GROUP_MAX) {
    const slice = parts.slice(i, i + GROUP_MAX);
    groups.push(kind === "all" ? { all: slice } : { any: slice });
  }
  return kind === "all" ? { all: groups } : { any: groups };
}

/** `n` comparisons made by `part`, numbered from 0. */
const times = (n: number, part: (i: number) => Condition): Condition[] => Array.from({ length: n }, (_, i) => part(i));

/** Limits a condition to the contacts of one case (so the count ignores other tests' contacts); one comparison. */
const ofCase = (name: string): Condition => ({ attr: "size_case", op: "eq", value: name });

interface SizeCase {
  name: string;
  /** The largest condition of its kind: MAX_CONDITION_PARTS comparisons. */
  condition: Condition;
  /** Builds the contacts (and events) it is counted over. */
  seed: () => Promise<void>;
  /** How many of them match. */
  expected: number;
}

const person = (email: string, attributes: Record<string, unknown>) => contactId(email, { attributes });

const cases: SizeCase[] = [
  {
    name: "numeric-ne",
    condition: {
      all: [
        ofCase("numeric-ne"),
        grouped(
          "all",
          times(MAX_CONDITION_PARTS - 1, (i) => ({ attr: "seats", op: "ne", value: 1000 + i })),
        ),
      ],
    },
    seed: async () => {
      await person("ne-match@example.com", { size_case: "numeric-ne", seats: 12 });
      await person("ne-missing@example.com", { size_case: "numeric-ne" });
      await person("ne-equal@example.com", { size_case: "numeric-ne", seats: 1005 });
      await person("ne-text@example.com", { size_case: "numeric-ne", seats: "1098" });
    },
    expected: 2,
  },
  {
    name: "numeric-eq",
    condition: {
      all: [
        ofCase("numeric-eq"),
        grouped(
          "any",
          times(MAX_CONDITION_PARTS - 1, (i) => ({ attr: "seats", op: "eq", value: 1000 + i })),
        ),
      ],
    },
    seed: async () => {
      await person("eq-number@example.com", { size_case: "numeric-eq", seats: 1003 });
      await person("eq-text@example.com", { size_case: "numeric-eq", seats: " 1040 " });
      await person("eq-array@example.com", { size_case: "numeric-eq", seats: [1, 1090] });
      await person("eq-other@example.com", { size_case: "numeric-eq", seats: 5 });
    },
    expected: 3,
  },
  {
    name: "text-contains",
    condition: {
      all: [
        ofCase("text-contains"),
        grouped(
          "any",
          times(MAX_CONDITION_PARTS - 1, (i) => ({ attr: "bio", op: "contains", value: `word${i}x` })),
        ),
      ],
    },
    seed: async () => {
      await person("contains-text@example.com", { size_case: "text-contains", bio: "Likes WORD7X and tea" });
      await person("contains-array@example.com", { size_case: "text-contains", bio: ["word42x"] });
      await person("contains-none@example.com", { size_case: "text-contains", bio: "word7 without the x" });
    },
    expected: 2,
  },
  {
    name: "event-count-where",
    condition: {
      event: "size_order",
      count: { op: "gte", value: 2 },
      where: grouped(
        "all",
        times(MAX_CONDITION_PARTS - 1, (i) => ({ prop: "qty", op: "ne", value: 1000 + i })),
      ),
    },
    seed: async () => {
      await contactId("count-two@example.com");
      await contactId("count-one-excluded@example.com");
      await contactId("count-one@example.com");
      await track([
        { email: "count-two@example.com", name: "size_order", properties: { qty: 1 } },
        { email: "count-two@example.com", name: "size_order", properties: { qty: 2 } },
        { email: "count-one-excluded@example.com", name: "size_order", properties: { qty: 1 } },
        { email: "count-one-excluded@example.com", name: "size_order", properties: { qty: 1050 } },
        { email: "count-one@example.com", name: "size_order", properties: { qty: 3 } },
      ]);
    },
    expected: 1,
  },
];

/** The statement a segment count runs, as D1 receives it. */
function countStatement(condition: Condition): string {
  return new SQLiteSyncDialect().sqlToQuery(sql`SELECT count(*) FROM contacts c WHERE ${conditionSql(condition, Date.now())}`).sql;
}

const bytes = (text: string) => new TextEncoder().encode(text).length;

describe("the largest condition the schemas allow compiles far below D1's 100 KB statement limit", () => {
  const largest: Record<string, Condition> = {
    ...Object.fromEntries(cases.map((c) => [c.name, c.condition])),
    "numeric-text-eq": grouped(
      "any",
      times(MAX_CONDITION_PARTS, (i) => ({ attr: "seats", op: "eq", value: String(i) })),
    ),
    "not-in": grouped(
      "all",
      times(MAX_CONDITION_PARTS, (i) => ({ not: { attr: `a${i}`, op: "in", value: ["x", i, "y", i + 1] } })),
    ),
    "behaviours-after": grouped(
      "any",
      times(MAX_CONDITION_PARTS, (i) => ({ event: `e${i}`, within: "30d", count: { op: "lte", value: i } })),
    ),
    "date-after": grouped(
      "all",
      times(MAX_CONDITION_PARTS, (i) => ({ attr: `d${i}`, op: "after", value: "30d" })),
    ),
  };

  for (const [name, condition] of Object.entries(largest))
    it(`${name}: ${MAX_CONDITION_PARTS} comparisons`, () => {
      const size = bytes(countStatement(condition));
      console.log(`condition size ${name}: ${size} bytes (${MAX_CONDITION_PARTS} comparisons)`);
      expect(size).toBeLessThan(SIZE_BUDGET);
    });
});

describe("every route that counts a condition answers the largest one with the right count", () => {
  for (const c of cases)
    it(`${c.name}: segment preview, flow entry count and broadcast audience agree on ${c.expected}`, async () => {
      await c.seed();

      const preview = await callJson("/v1/segments/preview", { method: "POST", body: { condition: c.condition } });
      expect(preview.status, JSON.stringify(preview.body)).toBe(200);
      expect(preview.body.count).toBe(c.expected);

      const segment = await callJson(`/v1/segments/size-${c.name}`, { method: "PUT", body: { name: c.name, condition: c.condition } });
      expect(segment.status, JSON.stringify(segment.body)).toBe(201);
      const entry = await callJson("/v1/flows/entry-count", { method: "POST", body: { trigger: { segment_entered: `size-${c.name}` } } });
      expect(entry.status, JSON.stringify(entry.body)).toBe(200);
      expect(entry.body.count).toBe(c.expected);

      await template("size");
      const sendAt = new Date(Date.now() + 86_400_000).toISOString();
      const draft = { name: c.name, template: "size", audience: c.condition, send_at: sendAt };
      const put = await callJson(`/v1/broadcasts/size-${c.name}`, { method: "PUT", body: draft });
      expect(put.status, JSON.stringify(put.body)).toBe(201);
      const scheduled = await callJson(`/v1/broadcasts/size-${c.name}/send`, { method: "POST" });
      expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(200);
      expect(scheduled.body).toMatchObject({ broadcast: { status: "scheduled" }, audience: c.expected });
    });
});

describe("a condition of one comparison more is refused with 422 by every route, and nothing is stored", () => {
  const tooBig = grouped(
    "all",
    times(MAX_CONDITION_PARTS + 1, (i) => ({ attr: "seats", op: "ne", value: i })),
  );
  const bound = `A condition may hold at most ${MAX_CONDITION_PARTS} comparisons`;
  const messages = (body: { error: { issues?: { message: string }[] } }) => (body.error.issues ?? []).map((i) => i.message);

  it("the segment preview", async () => {
    const preview = await callJson("/v1/segments/preview", { method: "POST", body: { condition: tooBig } });
    expect(preview.status).toBe(422);
    expect(messages(preview.body)).toContain(bound);
  });

  it("a segment, so no flow can count entrants by it", async () => {
    const put = await callJson("/v1/segments/too-big", { method: "PUT", body: { name: "Too big", condition: tooBig } });
    expect(put.status).toBe(422);
    expect(messages(put.body)).toContain(bound);
    expect((await callJson("/v1/segments/too-big")).status).toBe(404);
    const entry = await callJson("/v1/flows/entry-count", { method: "POST", body: { trigger: { segment_entered: "too-big" } } });
    expect(entry.body.count).toBe(0);
  });

  it("a broadcast's audience", async () => {
    await template("size");
    const put = await callJson("/v1/broadcasts/too-big", { method: "PUT", body: { name: "Too big", template: "size", audience: tooBig } });
    expect(put.status).toBe(422);
    expect(put.body.error.code).toBe("validation_failed");
    expect(messages(put.body)).toContain(bound);
    expect((await callJson("/v1/broadcasts/too-big")).status).toBe(404);
    const { results } = await env.DB.prepare("SELECT id FROM broadcasts WHERE id = 'too-big'").all();
    expect(results).toEqual([]);
  });

  it("a draft stored before the bound still reads: it is counted and scheduled, not a 500", async () => {
    await template("size");
    await person("stored-match@example.com", { size_case: "stored", seats: 1 });
    await person("stored-other@example.com", { size_case: "stored", seats: MAX_CONDITION_PARTS });
    const stored = grouped("all", [ofCase("stored"), ...times(MAX_CONDITION_PARTS, (i) => ({ attr: "seats", op: "ne", value: i + 2 }))]);
    const sendAt = Date.now() + 86_400_000;
    const definition = { name: "Stored", template: "size", audience: stored, send_at: new Date(sendAt).toISOString() };
    await saveBroadcast(openDatabase(env.DB), "stored-big", "Stored", definition, sendAt, Date.now());
    expect((await callJson("/v1/broadcasts/stored-big")).status).toBe(200);
    const scheduled = await callJson("/v1/broadcasts/stored-big/send", { method: "POST" });
    expect(scheduled.status, JSON.stringify(scheduled.body)).toBe(200);
    expect(scheduled.body).toMatchObject({ broadcast: { status: "scheduled" }, audience: 1 });
  });
});

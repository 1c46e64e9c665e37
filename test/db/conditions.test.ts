/**
 * The compiled SQL (src/db/conditions.ts) and the pure evaluator (src/flows/conditions.ts) decide every comparison
 * alike: a table of values and operators, each asked of both, on the same contact row.
 */
import { env } from "cloudflare:workers";
import { eq, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { conditionSql } from "../../src/db/conditions";
import { contactFacts } from "../../src/db/contacts";
import { contacts } from "../../src/db/schema";
import { evaluateCondition } from "../../src/flows/conditions";
import type { Condition } from "../../src/flows/schema";

/** The attribute values compared, one contact each (`missing` has none). */
const values: Record<string, unknown> = {
  text: "Healthcare Tech",
  numericText: " 12 ",
  leadingZero: "05",
  number: 12345,
  real: 2.5,
  boolean: true,
  one: 1,
  booleans: [false, "x"],
  array: ["retail", 7, "12"],
  object: { plan: "pro" },
  date: "2027-01-15",
  missing: undefined,
};

const comparisons: { op: string; value?: unknown }[] = [
  { op: "contains", value: "health" },
  { op: "contains", value: "23" },
  { op: "contains", value: "pro" },
  { op: "contains", value: "12" },
  { op: "contains", value: 7 },
  { op: "eq", value: 12 },
  { op: "eq", value: "12" },
  { op: "eq", value: "05" },
  { op: "eq", value: 12345 },
  { op: "eq", value: "Healthcare Tech" },
  { op: "eq", value: 2.5 },
  { op: "eq", value: true },
  { op: "eq", value: 1 },
  { op: "ne", value: false },
  { op: "ne", value: 12 },
  { op: "ne", value: "retail" },
  { op: "in", value: ["12", 2.5, "x"] },
  { op: "nin", value: [12345, "Healthcare Tech"] },
  { op: "in", value: [true, "05"] },
  { op: "in", value: [1] },
  { op: "gt", value: 10 },
  { op: "lte", value: "2.5" },
  { op: "exists", value: true },
  { op: "exists", value: false },
  { op: "before", value: "2027-02-01" },
  { op: "after", value: "30d" },
];

describe("SQL and the evaluator agree on every comparison", () => {
  it("for each value and operator in the table", async () => {
    const now = Date.now();
    const db = openDatabase(env.DB);
    const c = alias(contacts, "c");
    for (const [name, value] of Object.entries(values)) {
      const id = `c_agree_${name}`;
      await db.insert(contacts).values({
        id,
        email: `${name}@agree.test`,
        attributes: value === undefined ? {} : { v: value },
        createdAt: now,
        updatedAt: now,
      });
    }
    const disagreements: string[] = [];
    let matchedInSql = 0;
    for (const { op, value } of comparisons) {
      const condition = { attr: "v", op, value } as Condition;
      for (const name of Object.keys(values)) {
        const [row] = await db
          .select()
          .from(contacts)
          .where(eq(contacts.id, `c_agree_${name}`));
        if (!row) throw new Error(`no contact ${name}`);
        const expected = evaluateCondition(condition, { contact: contactFacts(row, false), now, countEvents: () => 0 });
        const [answer] = await db
          .select({ matches: sql<number>`${conditionSql(condition, now)}` })
          .from(c)
          .where(eq(c.id, row.id));
        const actual = answer?.matches === 1;
        if (actual) matchedInSql++;
        if (actual !== expected) disagreements.push(`${name} ${op} ${JSON.stringify(value)}: SQL ${actual}, evaluator ${expected}`);
      }
    }
    expect(disagreements).toEqual([]);
    // Both sides say yes often enough that agreeing is not agreeing on "no" everywhere.
    expect(matchedInSql).toBeGreaterThan(40);
  });
});

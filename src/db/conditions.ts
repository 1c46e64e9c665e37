/**
 * Compiles the condition language (src/flows/conditions.ts) to SQL over
 * `contacts AS c` and, inside behavioural conditions, `events`. Segments list
 * their members with it, and the ContactTimer counts behavioural conditions
 * with it, through the (contact_id, name, ts) index. It follows the pure
 * evaluator's rules; the segment tests compare the two on the same contacts.
 */
import { type SQL, sql } from "drizzle-orm";
import { behaviourSince, SYSTEM_ATTRIBUTES, TIME_ATTRIBUTES, toInstant } from "../flows/conditions";
import type { BehaviourCondition, Condition } from "../flows/schema";

/** A JSON path for SQLite from a dotted path (numeric parts index arrays). */
function jsonPath(dotted: string): string {
  return `$${dotted
    .split(".")
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `."${part.replaceAll('"', '""')}"`))
    .join("")}`;
}

/**
 * A JSON column as the condition reads it: NULL when SQLite cannot parse it (a value nested past its limit, stored
 * before inputs were bounded), so that one contact's unreadable attributes fail no query for the others.
 */
function readableJson(column: string): SQL {
  return sql.raw(`(CASE WHEN json_valid(${column}) THEN ${column} END)`);
}

/** Where a value lives: a plain column, or a path inside a JSON column. */
type Operand = { column: SQL } | { json: SQL; path: string; fallback?: SQL };

function operandValue(o: Operand): SQL {
  if ("column" in o) return o.column;
  const extracted = sql`json_extract(${o.json}, ${o.path})`;
  return o.fallback ? sql`coalesce(${extracted}, ${o.fallback})` : extracted;
}

/** `array` when the operand holds a JSON array. */
function isArray(o: Operand): SQL {
  return "column" in o ? sql`0` : sql`(json_type(${o.json}, ${o.path}) = 'array')`;
}

function arrayHas(o: Operand, expected: unknown): SQL {
  return "column" in o ? sql`0` : sql`EXISTS (SELECT 1 FROM json_each(${o.json}, ${o.path}) WHERE ${equalsSql(sql`value`, expected)})`;
}

/** The number a value holds, numeric text included (as the evaluator's asNumber), else NULL. */
function numericSql(x: SQL): SQL {
  // A subquery binds x (and its path parameter) once.
  return sql`(SELECT CASE WHEN typeof(v) IN ('integer', 'real') THEN v WHEN typeof(v) = 'text' AND json_valid(trim(v)) AND json_type(trim(v)) IN ('integer', 'real') THEN CAST(trim(v) AS REAL) END FROM (SELECT ${x} AS v))`;
}

/** A number from a comparison value, numeric text included, else null. */
function asNumber(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** Equality as the evaluator decides it: numerically when both sides are numbers (or numeric text). */
function equalsSql(x: SQL, expected: unknown): SQL {
  const n = asNumber(expected);
  const same = sql`coalesce(${x} = ${scalar(expected)}, 0)`;
  return n === null ? same : sql`(${same} OR coalesce(${numericSql(x)} = ${n}, 0))`;
}

/** A bind parameter for a comparison value: numbers stay numbers, booleans become 1/0. */
function scalar(v: unknown): string | number | null {
  if (typeof v === "number" || typeof v === "string") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  return v === null || v === undefined ? null : JSON.stringify(v);
}

function asInstantSql(value: SQL): SQL {
  return sql`(CASE typeof(${value}) WHEN 'text' THEN (julianday(${value}) - 2440587.5) * 86400000.0 ELSE ${value} END)`;
}

function compareSql(o: Operand, op: string, expected: unknown, now: number, timeColumn: boolean): SQL {
  const x = operandValue(o);
  const eq = sql`(CASE WHEN ${isArray(o)} THEN ${arrayHas(o, expected)} ELSE ${equalsSql(x, expected)} END)`;
  switch (op) {
    case "exists":
      return expected === false ? sql`(${x} IS NULL)` : sql`(${x} IS NOT NULL)`;
    case "eq":
      return eq;
    case "ne":
      return sql`(NOT ${eq})`;
    case "in":
    case "nin": {
      const list = Array.isArray(expected) ? expected : [];
      const numbers = list.map(asNumber).filter((n) => n !== null);
      const others = list.filter((v) => asNumber(v) === null).map(scalar);
      const inList = sql`(coalesce(${x} IN (SELECT value FROM json_each(${JSON.stringify(others)})), 0) OR coalesce(${numericSql(x)} IN (SELECT value FROM json_each(${JSON.stringify(numbers)})), 0))`;
      return op === "in" ? inList : sql`(NOT ${inList})`;
    }
    case "contains":
      if (typeof expected !== "string") return sql`(CASE WHEN ${isArray(o)} THEN ${arrayHas(o, expected)} ELSE 0 END)`;
      return sql`(CASE WHEN ${isArray(o)} THEN ${arrayHas(o, expected)} ELSE coalesce(instr(lower(${x}), lower(${expected})) > 0, 0) END)`;
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const n = asNumber(expected);
      if (n === null) return sql`0`;
      const symbol = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[op];
      return sql`coalesce(${numericSql(x)} ${sql.raw(symbol)} ${n}, 0)`;
    }
    case "before":
    case "after": {
      const at = toInstant(expected, now);
      if (at === null) return sql`0`;
      const instant = timeColumn ? x : asInstantSql(x);
      return sql`coalesce(${instant} ${sql.raw(op === "before" ? "<" : ">")} ${at}, 0)`;
    }
    default:
      return sql`0`;
  }
}

const COLUMN_OF: Record<string, string> = Object.fromEntries(SYSTEM_ATTRIBUTES.map((a) => [a, a]));

/** SQL that is true for contacts `c` (and, for `prop`, the event `eventAlias`) meeting the condition. */
export function conditionSql(condition: Condition, now: number, eventAlias: string | null = null): SQL {
  if ("all" in condition)
    return sql`(${sql.join(
      condition.all.map((c) => conditionSql(c, now, eventAlias)),
      sql` AND `,
    )})`;
  if ("any" in condition)
    return sql`(${sql.join(
      condition.any.map((c) => conditionSql(c, now, eventAlias)),
      sql` OR `,
    )})`;
  if ("not" in condition) return sql`(NOT ${conditionSql(condition.not, now, eventAlias)})`;
  if ("tag" in condition) return sql`EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = ${condition.tag})`;
  if ("attr" in condition) {
    const column = COLUMN_OF[condition.attr];
    const operand: Operand = column
      ? { column: sql.raw(`c.${column}`) }
      : { json: readableJson("c.attributes"), path: jsonPath(condition.attr) };
    return compareSql(operand, condition.op, condition.value, now, TIME_ATTRIBUTES.has(condition.attr));
  }
  if ("prop" in condition) {
    if (eventAlias === null) return sql`0`;
    const operand: Operand = {
      json: readableJson(`${eventAlias}.properties`),
      path: jsonPath(condition.prop),
      ...(condition.prop === "value" ? { fallback: sql.raw(`${eventAlias}.value`) } : {}),
    };
    return compareSql(operand, condition.op, condition.value, now, false);
  }
  const rule = condition.count ?? { op: "gte", value: 1 };
  return compareSql({ column: behaviourCountSql(condition, now, sql.raw("c.id")) }, rule.op, rule.value, now, false);
}

/** The number of the contact's human events matching a behavioural condition, as a scalar subquery. */
export function behaviourCountSql(condition: BehaviourCondition, now: number, contactId: SQL | string): SQL {
  const where = condition.where ? sql` AND ${conditionSql(condition.where, now, "e")}` : sql``;
  return sql`(SELECT count(*) FROM events e WHERE e.contact_id = ${contactId} AND e.name = ${condition.event}
    AND e.ts >= ${behaviourSince(condition, now)} AND e.ts <= ${now} AND e.machine = 0${where})`;
}

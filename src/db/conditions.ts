/**
 * Compiles the condition language (src/flows/conditions.ts) to SQL over
 * `contacts AS c` and, inside behavioural conditions, `events`. Segments list
 * their members with it, and the ContactTimer counts behavioural conditions
 * with it, through the (contact_id, name, ts) index. It follows the pure
 * evaluator's rules; the segment tests compare the two on the same contacts.
 * Every value a condition compares with (and every JSON path) is bound in ONE
 * JSON parameter read back with json_extract, so a segment of 50 conditions
 * binds as many parameters as a segment of one (D1 binds at most 100).
 */
import { type SQL, sql } from "drizzle-orm";
import { behaviourSince, SYSTEM_ATTRIBUTES, TIME_ATTRIBUTES, toInstant } from "../flows/conditions";
import type { BehaviourCondition, Condition } from "../flows/schema";

/** The values one compiled condition reads; they are bound together as one JSON array parameter. */
class Bound {
  private readonly values: unknown[] = [];

  /** SQL reading one value back (text, number, 1/0 for booleans, NULL for null). */
  value(v: unknown): SQL {
    return sql.raw(`json_extract(${PARAMS}.v, '$[${this.values.push(v) - 1}]')`);
  }

  /** `SELECT value FROM …` over a list of values. */
  list(values: unknown[]): SQL {
    return sql.raw(`SELECT value FROM json_each(${PARAMS}.v, '$[${this.values.push(values) - 1}]')`);
  }

  /** Wraps compiled SQL in the scalar subquery that binds the values, once. */
  scope(compiled: SQL): SQL {
    return sql`coalesce((SELECT ${compiled} FROM (SELECT ${JSON.stringify(this.values)} AS v) AS ${sql.raw(PARAMS)}), 0)`;
  }
}

const PARAMS = "nurture_params";

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
type Operand = { column: SQL } | { json: SQL; path: SQL; fallback?: SQL };

function operandValue(o: Operand): SQL {
  if ("column" in o) return o.column;
  const extracted = sql`json_extract(${o.json}, ${o.path})`;
  return o.fallback ? sql`coalesce(${extracted}, ${o.fallback})` : extracted;
}

/** `array` when the operand holds a JSON array. */
function isArray(o: Operand): SQL {
  return "column" in o ? sql`0` : sql`(json_type(${o.json}, ${o.path}) = 'array')`;
}

function arrayHas(b: Bound, o: Operand, expected: unknown): SQL {
  return "column" in o ? sql`0` : sql`EXISTS (SELECT 1 FROM json_each(${o.json}, ${o.path}) WHERE ${equalsSql(b, sql`value`, expected)})`;
}

/** The number a value holds, numeric text included (as the evaluator's asNumber), else NULL. */
function numericSql(x: SQL): SQL {
  // A subquery evaluates x once.
  return sql`(SELECT CASE WHEN typeof(v) IN ('integer', 'real') THEN v WHEN typeof(v) = 'text' AND json_valid(trim(v)) AND json_type(trim(v)) IN ('integer', 'real') THEN CAST(trim(v) AS REAL) END FROM (SELECT ${x} AS v))`;
}

/** A number from a comparison value, numeric text included, else null. */
function asNumber(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string" && v.trim() !== "" && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** Equality as the evaluator decides it: numerically when both sides are numbers (or numeric text). */
function equalsSql(b: Bound, x: SQL, expected: unknown): SQL {
  const n = asNumber(expected);
  const same = sql`coalesce(${x} = ${b.value(scalar(expected))}, 0)`;
  return n === null ? same : sql`(${same} OR coalesce(${numericSql(x)} = ${b.value(n)}, 0))`;
}

/** A comparison value as SQL sees it: numbers stay numbers (non-finite ones compare as NULL), booleans become 1/0. */
function scalar(v: unknown): string | number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string") return v;
  if (typeof v === "boolean") return v ? 1 : 0;
  return v === null || v === undefined ? null : JSON.stringify(v);
}

/** An instant in epoch ms from a value holding epoch ms or date text (as the evaluator reads dates); NULL otherwise. */
export function asInstantSql(value: SQL): SQL {
  return sql`(CASE typeof(${value}) WHEN 'text' THEN (julianday(${value}) - 2440587.5) * 86400000.0 ELSE ${value} END)`;
}

function compareSql(b: Bound, o: Operand, op: string, expected: unknown, now: number, timeColumn: boolean): SQL {
  const x = operandValue(o);
  const eq = sql`(CASE WHEN ${isArray(o)} THEN ${arrayHas(b, o, expected)} ELSE ${equalsSql(b, x, expected)} END)`;
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
      const inList = sql`(coalesce(${x} IN (${b.list(others)}), 0) OR coalesce(${numericSql(x)} IN (${b.list(numbers)}), 0))`;
      return op === "in" ? inList : sql`(NOT ${inList})`;
    }
    case "contains":
      if (typeof expected !== "string") return sql`(CASE WHEN ${isArray(o)} THEN ${arrayHas(b, o, expected)} ELSE 0 END)`;
      return sql`(CASE WHEN ${isArray(o)} THEN ${arrayHas(b, o, expected)} ELSE coalesce(instr(lower(${x}), lower(${b.value(expected)})) > 0, 0) END)`;
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const n = asNumber(expected);
      if (n === null) return sql`0`;
      const symbol = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[op];
      return sql`coalesce(${numericSql(x)} ${sql.raw(symbol)} ${b.value(n)}, 0)`;
    }
    case "before":
    case "after": {
      const at = toInstant(expected, now);
      if (at === null) return sql`0`;
      const instant = timeColumn ? x : asInstantSql(x);
      return sql`coalesce(${instant} ${sql.raw(op === "before" ? "<" : ">")} ${b.value(at)}, 0)`;
    }
    default:
      return sql`0`;
  }
}

const COLUMN_OF: Record<string, string> = Object.fromEntries(SYSTEM_ATTRIBUTES.map((a) => [a, a]));

/** SQL that is true for contacts `c` (and, for `prop`, the event `eventAlias`) meeting the condition; it binds one parameter. */
export function conditionSql(condition: Condition, now: number, eventAlias: string | null = null): SQL {
  const bound = new Bound();
  return bound.scope(compileCondition(bound, condition, now, eventAlias));
}

/**
 * Joins terms as a balanced tree, `((a AND b) AND (c AND d))`: SQLite limits an expression's depth (100 in D1),
 * and a flat chain of 50 terms, each with its subqueries, would pass it.
 */
function balanced(terms: SQL[], operator: "AND" | "OR"): SQL {
  if (terms.length === 1) return sql`(${terms[0]})`;
  const half = Math.ceil(terms.length / 2);
  return sql`(${balanced(terms.slice(0, half), operator)} ${sql.raw(operator)} ${balanced(terms.slice(half), operator)})`;
}

function compileCondition(b: Bound, condition: Condition, now: number, eventAlias: string | null): SQL {
  if ("all" in condition)
    return balanced(
      condition.all.map((c) => compileCondition(b, c, now, eventAlias)),
      "AND",
    );
  if ("any" in condition)
    return balanced(
      condition.any.map((c) => compileCondition(b, c, now, eventAlias)),
      "OR",
    );
  if ("not" in condition) return sql`(NOT ${compileCondition(b, condition.not, now, eventAlias)})`;
  if ("tag" in condition) return sql`EXISTS (SELECT 1 FROM json_each(c.tags) WHERE value = ${b.value(condition.tag)})`;
  if ("attr" in condition) {
    const column = COLUMN_OF[condition.attr];
    const operand: Operand = column
      ? { column: sql.raw(`c.${column}`) }
      : { json: readableJson("c.attributes"), path: b.value(jsonPath(condition.attr)) };
    return compareSql(b, operand, condition.op, condition.value, now, TIME_ATTRIBUTES.has(condition.attr));
  }
  if ("prop" in condition) {
    if (eventAlias === null) return sql`0`;
    const operand: Operand = {
      json: readableJson(`${eventAlias}.properties`),
      path: b.value(jsonPath(condition.prop)),
      ...(condition.prop === "value" ? { fallback: sql.raw(`${eventAlias}.value`) } : {}),
    };
    return compareSql(b, operand, condition.op, condition.value, now, false);
  }
  const rule = condition.count ?? { op: "gte", value: 1 };
  return compareSql(b, { column: compileBehaviourCount(b, condition, now, sql.raw("c.id")) }, rule.op, rule.value, now, false);
}

/** The number of the contact's human events matching a behavioural condition, as a scalar subquery binding one parameter. */
export function behaviourCountSql(condition: BehaviourCondition, now: number, contactId: SQL | string): SQL {
  const bound = new Bound();
  return bound.scope(compileBehaviourCount(bound, condition, now, contactId));
}

function compileBehaviourCount(b: Bound, condition: BehaviourCondition, now: number, contactId: SQL | string): SQL {
  const where = condition.where ? sql` AND ${compileCondition(b, condition.where, now, "e")}` : sql``;
  const contact = typeof contactId === "string" ? b.value(contactId) : contactId;
  return sql`(SELECT count(*) FROM events e WHERE e.contact_id = ${contact} AND e.name = ${b.value(condition.event)}
    AND e.ts >= ${b.value(behaviourSince(condition, now))} AND e.ts <= ${b.value(now)} AND e.machine = 0${where})`;
}

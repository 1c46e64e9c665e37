/**
 * Compiles the condition language (src/flows/conditions.ts) to SQL over
 * `contacts AS c` and, inside behavioural conditions, `events`. Segments list
 * their members with it, and the ContactTimer counts behavioural conditions
 * with it, through the (contact_id, name, ts) index. It follows the pure
 * evaluator's rules; the segment tests compare the two on the same contacts.
 * Every value a condition compares with (and every JSON path) is bound in ONE
 * JSON parameter read back as `p.v->>i`, so a segment of 100 comparisons
 * binds as many parameters as a segment of one (D1 binds at most 100). The SQL
 * is kept short, as D1 refuses statements over 100 KB: each JSON document is
 * checked once (`p.a` for the contact's attributes, `q` for an event's
 * properties) and each comparison reads its operand once, as `x` (and its JSON
 * type `t`), so the largest condition the schema allows compiles to a fraction
 * of that (test/http/condition-size.test.ts prints the sizes).
 */
import { type SQL, sql } from "drizzle-orm";
import { asNumber, behaviourSince, SYSTEM_ATTRIBUTES, TIME_ATTRIBUTES, toInstant } from "../flows/conditions";
import type { BehaviourCondition, Condition } from "../flows/schema";

/** The values one compiled condition reads; they are bound together as one JSON array parameter. */
class Bound {
  private readonly values: unknown[] = [];
  /** Whether the condition reads custom attributes, which the scope then checks once as `p.a`. */
  readsAttributes = false;

  /** SQL reading one value back (text, number, 1/0 for booleans, NULL for null). */
  value(v: unknown): string {
    return `p.v->>${this.values.push(v) - 1}`;
  }

  /** `SELECT value FROM …` over a list of values. */
  list(values: unknown[]): string {
    return `SELECT value FROM json_each(p.v->${this.values.push(values) - 1})`;
  }

  /** Wraps compiled SQL in the scalar subquery that binds the values, once. */
  scope(compiled: SQL): SQL {
    const attributes = this.readsAttributes ? sql.raw(`,${readableJson("c.attributes")}a`) : sql``;
    return sql`coalesce((SELECT ${compiled} FROM(SELECT ${JSON.stringify(this.values)} v${attributes})p),0)`;
  }
}

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
function readableJson(column: string): string {
  return `iif(json_valid(${column}),${column},NULL)`;
}

/**
 * The number a value holds, numeric text included (as the evaluator's asNumber), else NULL. `type` is its JSON type:
 * JSON true and false read back as 1 and 0, and are no numbers.
 */
function numeric(x: string, type: string): string {
  return `iif(${type} IN('true','false'),NULL,iif(json_valid(trim(${x}))AND json_type(trim(${x}))IN('integer','real'),CAST(trim(${x})AS REAL),NULL))`;
}

/**
 * Equality of `y` (of JSON type `u`) with a value as the evaluator decides it: numerically when both are numbers (or
 * numeric text), a boolean only with that boolean.
 */
function equals(b: Bound, y: string, u: string, expected: unknown): string {
  if (typeof expected === "boolean") return `${u}='${expected}'`;
  const n = asNumber(expected);
  const same = `${y}=${b.value(scalar(expected))}`;
  if (n === null) return same;
  const numerically = `${numeric(y, u)}=${b.value(n)}`;
  // A number equals exactly what is numerically equal to it; numeric text may also equal as text ("05" = "05").
  return typeof expected === "number" ? numerically : `(${same} OR ${numerically})`;
}

/** True when `x` (an array: any element of it) equals the value; never NULL. */
function hasEqual(b: Bound, expected: unknown): string {
  const elements = "SELECT value y,type u FROM json_each(iif(t='array',x,NULL))UNION ALL SELECT x,t WHERE t IS NOT 'array'";
  return `EXISTS(SELECT 1 FROM(${elements})WHERE ${equals(b, "y", "u", expected)})`;
}

/**
 * A comparison value as SQL sees it: numbers stay numbers (non-finite ones compare as NULL), objects and lists their
 * JSON. Booleans never get here: they are compared by JSON type.
 */
function scalar(v: unknown): string | number | null {
  if (typeof v === "number") return Number.isFinite(v) ? v : null;
  if (typeof v === "string") return v;
  return v === null || v === undefined ? null : JSON.stringify(v);
}

/** An instant in epoch ms from a value holding epoch ms or date text (as the evaluator reads dates); NULL otherwise. */
export function asInstantSql(value: SQL): SQL {
  return sql`(CASE typeof(${value}) WHEN 'text' THEN (julianday(${value}) - 2440587.5) * 86400000.0 ELSE ${value} END)`;
}

/**
 * The test of one operator on the operand `x` whose JSON type is `t` (NULL for a column), as SQL that is never NULL
 * (a NULL would turn `NOT` and `OR` around it into NULL too).
 */
function compareSql(b: Bound, op: string, expected: unknown, now: number, timeColumn: boolean): string {
  switch (op) {
    case "exists":
      return expected === false ? "x IS NULL" : "x IS NOT NULL";
    case "eq":
      return hasEqual(b, expected);
    case "ne":
      return `NOT ${hasEqual(b, expected)}`;
    case "in":
    case "nin": {
      const list = Array.isArray(expected) ? expected : [];
      const numbers = list.map(asNumber).filter((n) => n !== null);
      // Numeric text also equals as text ("05" is in ["05"]), as in equals.
      const others = list.filter((v) => typeof v !== "number" && typeof v !== "boolean").map(scalar);
      // A listed boolean matches that boolean only (JSON true reads back as 1), by its JSON type.
      const booleans = list.filter((v) => typeof v === "boolean").map(String);
      const byType = booleans.length > 0 ? `OR t IN(${b.list(booleans)})` : "";
      const inList = `coalesce(x IN(${b.list(others)})OR ${numeric("x", "t")} IN(${b.list(numbers)})${byType},0)`;
      return op === "in" ? inList : `NOT ${inList}`;
    }
    case "contains": {
      // Text contains text, case-insensitively; any other value (a number, an object) contains nothing, as in the evaluator.
      const text =
        typeof expected === "string"
          ? `coalesce(typeof(x)='text' AND t IS NOT 'object' AND instr(lower(x),lower(${b.value(expected)}))>0,0)`
          : "0";
      return `iif(t='array',${hasEqual(b, expected)},${text})`;
    }
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const n = asNumber(expected);
      if (n === null) return "0";
      const symbol = { gt: ">", gte: ">=", lt: "<", lte: "<=" }[op];
      return `coalesce(${numeric("x", "t")}${symbol}${b.value(n)},0)`;
    }
    case "before":
    case "after": {
      const at = toInstant(expected, now);
      if (at === null) return "0";
      const instant = timeColumn ? "x" : "iif(t IN('true','false'),NULL,iif(typeof(x)='text',(julianday(x)-2440587.5)*86400000.0,x))";
      return `coalesce(${instant}${op === "before" ? "<" : ">"}${b.value(at)},0)`;
    }
    default:
      return "0";
  }
}

/** Runs a test over an operand read once: `x`, its value, and `t`, its JSON type (NULL for a column). */
function withOperand(x: SQL, t: SQL, test: string): SQL {
  return sql`(SELECT ${sql.raw(test)} FROM(SELECT ${x} x,${t} t))`;
}

const COLUMN_OF: Record<string, string> = Object.fromEntries(SYSTEM_ATTRIBUTES.map((a) => [a, a]));

/** SQL that is true for contacts `c` meeting the condition (`prop` holds only inside a behaviour); it binds one parameter. */
export function conditionSql(condition: Condition, now: number): SQL {
  const bound = new Bound();
  return bound.scope(compileCondition(bound, condition, now, false));
}

/**
 * Joins terms as a balanced tree, `((a AND b) AND (c AND d))`: SQLite limits an expression's depth (100 in D1),
 * and a flat chain of 50 terms, each with its subqueries, would pass it.
 */
function balanced(terms: SQL[], operator: "AND" | "OR"): SQL {
  if (terms.length === 1) return terms[0] as SQL;
  const half = Math.ceil(terms.length / 2);
  return sql`(${balanced(terms.slice(0, half), operator)} ${sql.raw(operator)} ${balanced(terms.slice(half), operator)})`;
}

/** `inEvent` is true inside a behaviour's `where`, where `prop` reads the event `e` and its readable properties `q`. */
function compileCondition(b: Bound, condition: Condition, now: number, inEvent: boolean): SQL {
  const compile = (c: Condition) => compileCondition(b, c, now, inEvent);
  if ("all" in condition) return balanced(condition.all.map(compile), "AND");
  if ("any" in condition) return balanced(condition.any.map(compile), "OR");
  if ("not" in condition) return sql`(NOT ${compile(condition.not)})`;
  if ("tag" in condition) return sql.raw(`EXISTS(SELECT 1 FROM json_each(c.tags)WHERE value=${b.value(condition.tag)})`);
  if ("attr" in condition) {
    const column = COLUMN_OF[condition.attr];
    const test = compareSql(b, condition.op, condition.value, now, TIME_ATTRIBUTES.has(condition.attr));
    if (column) return withOperand(sql.raw(`c.${column}`), sql`NULL`, test);
    b.readsAttributes = true;
    const path = b.value(jsonPath(condition.attr));
    return withOperand(sql.raw(`json_extract(p.a,${path})`), sql.raw(`json_type(p.a,${path})`), test);
  }
  if ("prop" in condition) {
    if (!inEvent) return sql`0`;
    const test = compareSql(b, condition.op, condition.value, now, false);
    const path = b.value(jsonPath(condition.prop));
    const extracted = `json_extract(q,${path})`;
    const value = condition.prop === "value" ? `coalesce(${extracted},e.value)` : extracted;
    return withOperand(sql.raw(value), sql.raw(`json_type(q,${path})`), test);
  }
  const rule = condition.count ?? { op: "gte", value: 1 };
  return withOperand(compileBehaviourCount(b, condition, now, sql.raw("c.id")), sql`NULL`, compareSql(b, rule.op, rule.value, now, false));
}

/** The number of the contact's human events matching a behavioural condition, as a scalar subquery binding one parameter. */
export function behaviourCountSql(condition: BehaviourCondition, now: number, contactId: SQL | string): SQL {
  const bound = new Bound();
  return bound.scope(compileBehaviourCount(bound, condition, now, contactId));
}

function compileBehaviourCount(b: Bound, condition: BehaviourCondition, now: number, contactId: SQL | string): SQL {
  // The event's properties are checked once per event, as `q`, for all the comparisons of `where`.
  const where = condition.where
    ? sql` AND(SELECT ${compileCondition(b, condition.where, now, true)} FROM(SELECT ${sql.raw(readableJson("e.properties"))}q))`
    : sql``;
  const contact = typeof contactId === "string" ? sql.raw(b.value(contactId)) : contactId;
  return sql`(SELECT count(*)FROM events e WHERE e.contact_id=${contact} AND e.name=${sql.raw(b.value(condition.event))} AND e.ts>=${sql.raw(b.value(behaviourSince(condition, now)))} AND e.ts<=${sql.raw(b.value(now))} AND e.machine=0${where})`;
}

/**
 * The condition language of SPEC section 5, evaluated against a contact, the
 * triggering event and the clock. Pure: behavioural conditions (`event … within
 * … count`) are answered by a counter the caller supplies, which the Durable
 * Object fills from indexed D1 queries before it runs the interpreter.
 * db/conditions.ts compiles the same language to SQL for segments; the two
 * follow the same rules, and the tests hold them to it.
 */
import { durationMs, parseDuration } from "./duration";
import type { BehaviourCondition, Condition } from "./schema";

/** What conditions and the interpreter may know about a contact. Times are ms since the epoch. */
export interface ContactFacts {
  id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  timezone: string | null;
  consent: "subscribed" | "pending" | "unsubscribed" | "none";
  lifecycle_stage: string | null;
  attributes: Record<string, unknown>;
  tags: string[];
  last_opened_at: number | null;
  last_clicked_at: number | null;
  last_order_at: number | null;
  orders_count: number;
  total_spent: number;
  unopened_streak: number;
  created_at: number;
  /** On the suppression list (hard bounce, complaint, manual). */
  suppressed: boolean;
}

/** The attributes stored as contact columns rather than in `attributes`. */
export const SYSTEM_ATTRIBUTES = [
  "email",
  "first_name",
  "last_name",
  "timezone",
  "consent",
  "lifecycle_stage",
  "last_opened_at",
  "last_clicked_at",
  "last_order_at",
  "orders_count",
  "total_spent",
  "unopened_streak",
  "created_at",
] as const;
export type SystemAttribute = (typeof SYSTEM_ATTRIBUTES)[number];
/** System attributes that hold instants. */
export const TIME_ATTRIBUTES: ReadonlySet<string> = new Set(["last_opened_at", "last_clicked_at", "last_order_at", "created_at"]);

/** The event a condition's `prop` reads. */
export interface EventFacts {
  name: string;
  properties: Record<string, unknown>;
  value: number | null;
  ts: number;
}

export interface ConditionContext {
  contact: ContactFacts;
  event?: EventFacts;
  now: number;
  /** How many matching events the contact has for a behavioural condition. */
  countEvents: (condition: BehaviourCondition) => number;
}

/** True when the condition holds. */
export function evaluateCondition(condition: Condition, ctx: ConditionContext): boolean {
  if ("all" in condition) return condition.all.every((c) => evaluateCondition(c, ctx));
  if ("any" in condition) return condition.any.some((c) => evaluateCondition(c, ctx));
  if ("not" in condition) return !evaluateCondition(condition.not, ctx);
  if ("tag" in condition) return ctx.contact.tags.includes(condition.tag);
  if ("attr" in condition) return compare(contactAttribute(ctx.contact, condition.attr), condition.op, condition.value, ctx.now);
  if ("prop" in condition) return compare(eventProperty(ctx.event, condition.prop), condition.op, condition.value, ctx.now);
  const count = ctx.countEvents(condition);
  const rule = condition.count ?? { op: "gte", value: 1 };
  return compare(count, rule.op, rule.value, ctx.now);
}

/** A contact attribute by name: a system attribute, else a custom one (dotted paths reach inside). */
export function contactAttribute(contact: ContactFacts, name: string): unknown {
  if ((SYSTEM_ATTRIBUTES as readonly string[]).includes(name)) return contact[name as SystemAttribute];
  return readPath(contact.attributes, name);
}

/** An event property by dotted path; `value` falls back to the event's value. */
export function eventProperty(event: EventFacts | undefined, path: string): unknown {
  if (!event) return undefined;
  const found = readPath(event.properties, path);
  return found === undefined && path === "value" ? (event.value ?? undefined) : found;
}

function readPath(root: unknown, path: string): unknown {
  let at: unknown = root;
  for (const key of path.split(".")) {
    if (at === null || typeof at !== "object") return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** An instant from a date string, epoch ms, or a duration meaning that long before `now`. */
export function toInstant(value: unknown, now: number): number | null {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value !== "string") return null;
  const ago = parseDuration(value);
  if (ago !== null) return now - ago;
  const parsed = Date.parse(value);
  return Number.isNaN(parsed) ? null : parsed;
}

/** A number, or a string holding one; null otherwise. */
export function asNumber(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return null;
}

function equal(a: unknown, b: unknown): boolean {
  const x = asNumber(a);
  const y = asNumber(b);
  if (x !== null && y !== null) return x === y;
  return a === b;
}

/** Applies one operator. Missing values satisfy only `ne`, `nin` and `exists: false`. */
export function compare(actual: unknown, op: string, expected: unknown, now: number): boolean {
  const present = actual !== undefined && actual !== null;
  switch (op) {
    case "exists":
      return expected === false ? !present : present;
    case "eq":
      return Array.isArray(actual) ? actual.some((a) => equal(a, expected)) : present && equal(actual, expected);
    case "ne":
      return !(Array.isArray(actual) ? actual.some((a) => equal(a, expected)) : present && equal(actual, expected));
    case "in":
      return present && Array.isArray(expected) && expected.some((e) => equal(actual, e));
    case "nin":
      return !(present && Array.isArray(expected) && expected.some((e) => equal(actual, e)));
    case "contains":
      if (Array.isArray(actual)) return actual.some((a) => equal(a, expected));
      return typeof actual === "string" && typeof expected === "string" && actual.toLowerCase().includes(expected.toLowerCase());
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const x = asNumber(actual);
      const y = asNumber(expected);
      if (x === null || y === null) return false;
      return op === "gt" ? x > y : op === "gte" ? x >= y : op === "lt" ? x < y : x <= y;
    }
    case "before":
    case "after": {
      const x = present ? toInstant(actual, now) : null;
      const y = toInstant(expected, now);
      if (x === null || y === null) return false;
      return op === "before" ? x < y : x > y;
    }
    default:
      return false;
  }
}

/** Every behavioural condition inside a condition, for the caller to count ahead of evaluation. */
export function behaviourConditions(condition: Condition | undefined, out: BehaviourCondition[] = []): BehaviourCondition[] {
  if (!condition) return out;
  if ("all" in condition) for (const c of condition.all) behaviourConditions(c, out);
  else if ("any" in condition) for (const c of condition.any) behaviourConditions(c, out);
  else if ("not" in condition) behaviourConditions(condition.not, out);
  else if ("event" in condition) out.push(condition);
  return out;
}

/** The window start of a behavioural condition (0 when it has no `within`). */
export function behaviourSince(condition: BehaviourCondition, now: number): number {
  return condition.within ? now - durationMs(condition.within) : 0;
}

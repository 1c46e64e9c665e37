/**
 * What a ContactTimer pass reads from D1 about flows, once per pass: the flows by id, the active flows an event
 * can start, the behaviour counts their conditions ask about, and A/B winners. Loaded before the pure
 * interpreter runs, so that it asks nothing of I/O.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { behaviourCountSql } from "../db/conditions";
import { activeFlowsTriggeredBy, flowsByIds, type StoredFlow } from "../db/flows";
import { behaviourConditions, type ContactFacts } from "../flows/conditions";
import type { BehaviourCondition, Condition } from "../flows/schema";
import { conditionsOf } from "../flows/validate";
import { loadWinners } from "../reports/abtest";

/** The lookups of one pass over a contact's state, cached for the pass. */
export interface FlowLookups {
  db: Database;
  now: number;
  contact: ContactFacts | undefined;
  flows: Map<string, StoredFlow | null>;
  /** Active flows each event name (and changed attribute) can start, looked up once per pass. */
  triggered: Map<string, StoredFlow[]>;
  counts: Map<string, number>;
  /** A/B winners per flow: step id → template id. */
  winners: Map<string, Record<string, string>>;
}

/** Empty caches for a pass. */
export function emptyLookups(): Pick<FlowLookups, "flows" | "triggered" | "counts" | "winners"> {
  return { flows: new Map(), triggered: new Map(), counts: new Map(), winners: new Map() };
}

/** Loads the flows of these ids not loaded yet (a deleted flow is kept as null). */
export async function loadFlows(pass: FlowLookups, ids: string[]): Promise<void> {
  const missing = [...new Set(ids)].filter((id) => !pass.flows.has(id));
  if (missing.length === 0) return;
  const found = await flowsByIds(pass.db, missing);
  for (const id of missing) pass.flows.set(id, found.get(id) ?? null);
}

/** The active flows an event (with the attribute it changed, if any) may start. */
export async function triggeredBy(pass: FlowLookups, eventName: string, attribute: string | null): Promise<StoredFlow[]> {
  const key = `${eventName}\u0000${attribute ?? ""}`;
  let found = pass.triggered.get(key);
  if (!found) {
    found = await activeFlowsTriggeredBy(pass.db, eventName, attribute);
    pass.triggered.set(key, found);
  }
  return found;
}

/** Loads what the interpreter may ask about a flow (behaviour counts, A/B winners), so that it can stay pure. */
export async function prepare(pass: FlowLookups, flow: StoredFlow): Promise<void> {
  await prefetchCounts(pass, conditionsOf(flow.definition));
  const hasWinnerRule = flow.definition.steps.some((s) => s.type === "email" && s.winner);
  if (hasWinnerRule && !pass.winners.has(flow.id)) pass.winners.set(flow.id, await loadWinners(pass.db, flow.id));
}

/** Counts, in D1, the behavioural conditions the interpreter may ask about. */
export async function prefetchCounts(pass: FlowLookups, conditions: Condition[]): Promise<void> {
  if (!pass.contact) return;
  const wanted = conditions.flatMap((c) => behaviourConditions(c)).filter((c) => !pass.counts.has(JSON.stringify(c)));
  for (const c of wanted) {
    const row = await pass.db.get<{ n: number }>(
      sql`SELECT ${behaviourCountSql(c, pass.now, sql.raw("c.id"))} AS n FROM contacts c WHERE c.id = ${pass.contact.id}`,
    );
    pass.counts.set(JSON.stringify(c), row?.n ?? 0);
  }
}

/** The facts conditions are evaluated against: the contact, the time, and the prefetched behaviour counts. */
export function conditionFacts(pass: FlowLookups) {
  return {
    contact: pass.contact as ContactFacts,
    now: pass.now,
    countEvents: (c: BehaviourCondition) => pass.counts.get(JSON.stringify(c)) ?? 0,
  };
}

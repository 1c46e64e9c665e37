/**
 * Queries on flows and their versions. Every save is a new version (kept in
 * `flow_versions`); `flows` holds the current one with its trigger index key,
 * so that an event finds the flows it can start through an index, whatever
 * the number of other flows.
 */
import { and, count, desc, eq, gte, inArray, lt, or, sql } from "drizzle-orm";
import type { Flow } from "../flows/schema";
import { triggerKey } from "../flows/validate";
import type { Database } from "./client";
import { enrollments, type FlowRow, type FlowStatus, flows, flowVersions, messages, templates } from "./schema";

/** A stored flow with its parsed definition. */
export interface StoredFlow {
  id: string;
  name: string;
  status: FlowStatus;
  version: number;
  definition: Flow;
  createdAt: number;
  updatedAt: number;
}

function stored(row: FlowRow): StoredFlow {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    version: row.version,
    definition: row.definition as Flow,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** Which of these template ids exist. */
export async function existingTemplateIds(db: Database, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({ id: templates.id })
    .from(templates)
    .where(sql`${templates.id} IN (SELECT value FROM json_each(${JSON.stringify([...new Set(ids)])}))`);
  return new Set(rows.map((r) => r.id));
}

/** Saves a definition as the flow's next version (a new flow starts as a draft); returns the stored flow and whether it was new. */
export async function saveFlow(db: Database, id: string, definition: Flow, now: number): Promise<{ flow: StoredFlow; created: boolean }> {
  const def = { ...definition, id };
  const [row] = await db
    .insert(flows)
    .values({
      id,
      name: def.name,
      status: "draft",
      version: 1,
      definition: def,
      triggerKey: triggerKey(def),
      transactional: def.settings?.transactional ?? false,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoUpdate({
      target: flows.id,
      set: {
        name: def.name,
        version: sql`${flows.version} + 1`,
        definition: def,
        triggerKey: triggerKey(def),
        transactional: def.settings?.transactional ?? false,
        updatedAt: now,
      },
    })
    .returning();
  const saved = row as FlowRow;
  await db.insert(flowVersions).values({ flowId: id, version: saved.version, definition: def, createdAt: now }).onConflictDoNothing();
  return { flow: stored(saved), created: saved.version === 1 };
}

/** One flow, or undefined. */
export async function findFlow(db: Database, id: string): Promise<StoredFlow | undefined> {
  const [row] = await db.select().from(flows).where(eq(flows.id, id));
  return row ? stored(row) : undefined;
}

/** All flows, newest first. */
export async function listFlows(db: Database): Promise<StoredFlow[]> {
  const rows = await db.select().from(flows).orderBy(sql`${flows.updatedAt} DESC`);
  return rows.map(stored);
}

/** The active flows' ids and names, by name: what a contact may be enrolled in by hand. */
export async function activeFlowNames(db: Database): Promise<{ id: string; name: string }[]> {
  return db.select({ id: flows.id, name: flows.name }).from(flows).where(eq(flows.status, "active")).orderBy(flows.name, flows.id);
}

/** Sets a flow's status; false when there is no such flow. */
export async function setFlowStatus(db: Database, id: string, status: FlowStatus, now: number): Promise<StoredFlow | undefined> {
  const [row] = await db.update(flows).set({ status, updatedAt: now }).where(eq(flows.id, id)).returning();
  return row ? stored(row) : undefined;
}

/** What deleting a flow cancelled: its queued messages, and the running enrollments that end at their next input. */
export interface FlowDeletion {
  cancelledMessages: number;
  endedEnrollments: number;
}

/** Deletes a flow and its versions and cancels its queued messages, in one transaction; undefined when there is no such flow. */
export async function deleteFlow(db: Database, id: string): Promise<FlowDeletion | undefined> {
  const [queued, running, gone] = await db.batch([
    db
      .select({ n: count() })
      .from(messages)
      .where(and(eq(messages.flowId, id), eq(messages.status, "queued"))),
    db
      .select({ n: count() })
      .from(enrollments)
      .where(and(eq(enrollments.flowId, id), eq(enrollments.status, "active"))),
    db.delete(flows).where(eq(flows.id, id)).returning({ id: flows.id }),
    db.delete(flowVersions).where(eq(flowVersions.flowId, id)),
    db
      .update(messages)
      .set({ status: "cancelled", reason: "flow_deleted" })
      .where(and(eq(messages.flowId, id), eq(messages.status, "queued"))),
  ]);
  if (gone.length === 0) return undefined;
  return { cancelledMessages: queued[0]?.n ?? 0, endedEnrollments: running[0]?.n ?? 0 };
}

/** What deleting the flow now would cancel, without deleting it. */
export async function deletionImpact(db: Database, id: string): Promise<FlowDeletion> {
  const [queued, running] = await db.batch([
    db
      .select({ n: count() })
      .from(messages)
      .where(and(eq(messages.flowId, id), eq(messages.status, "queued"))),
    db
      .select({ n: count() })
      .from(enrollments)
      .where(and(eq(enrollments.flowId, id), eq(enrollments.status, "active"))),
  ]);
  return { cancelledMessages: queued[0]?.n ?? 0, endedEnrollments: running[0]?.n ?? 0 };
}

/** One saved version of a flow. */
export interface FlowVersion {
  version: number;
  definition: Flow;
  savedAt: number;
}

/** Up to `limit` versions of a flow older than `before` (all when absent), newest first. */
export async function flowVersionsPage(db: Database, id: string, limit: number, before?: number): Promise<FlowVersion[]> {
  const rows = await db
    .select()
    .from(flowVersions)
    .where(before === undefined ? eq(flowVersions.flowId, id) : and(eq(flowVersions.flowId, id), lt(flowVersions.version, before)))
    .orderBy(desc(flowVersions.version))
    .limit(limit);
  return rows.map((r) => ({ version: r.version, definition: r.definition as Flow, savedAt: r.createdAt }));
}

/** One version of a flow, or undefined. */
export async function findFlowVersion(db: Database, id: string, version: number): Promise<FlowVersion | undefined> {
  const [row] = await db
    .select()
    .from(flowVersions)
    .where(and(eq(flowVersions.flowId, id), eq(flowVersions.version, version)));
  return row ? { version: row.version, definition: row.definition as Flow, savedAt: row.createdAt } : undefined;
}

/** Copies are named `<id>-copy`, `<id>-copy-2` … up to this number, then get a random suffix. */
const NAMED_COPIES = 20;

/** Stores a copy of a definition as a new draft flow under the first free `<id>-copy…` id; returns it. */
export async function duplicateFlow(db: Database, source: StoredFlow, now: number): Promise<StoredFlow> {
  // Flow ids are at most 64 characters; the longest suffix is "-copy-" and six hex digits.
  const base = source.id.slice(0, 52);
  const candidates = Array.from({ length: NAMED_COPIES }, (_, i) => (i === 0 ? `${base}-copy` : `${base}-copy-${i + 1}`));
  const taken = await db
    .select({ id: flows.id })
    .from(flows)
    .where(sql`${flows.id} IN (SELECT value FROM json_each(${JSON.stringify(candidates)}))`);
  const takenIds = new Set(taken.map((r) => r.id));
  const name = `${source.name.slice(0, 193)} (copy)`;
  for (const id of [...candidates.filter((c) => !takenIds.has(c)).slice(0, 1), `${base}-copy-${randomHex(3)}`]) {
    const created = await insertNewFlow(db, id, { ...source.definition, id, name }, now);
    // Another copy may have taken the id since the lookup; the random one is then used.
    if (created) return created;
  }
  throw new Error(`No free id for a copy of flow ${source.id}`);
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Inserts a flow that must not exist yet, as a draft at version 1; undefined when the id is taken. */
async function insertNewFlow(db: Database, id: string, definition: Flow, now: number): Promise<StoredFlow | undefined> {
  const [row] = await db
    .insert(flows)
    .values({
      id,
      name: definition.name,
      status: "draft",
      version: 1,
      definition,
      triggerKey: triggerKey(definition),
      transactional: definition.settings?.transactional ?? false,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoNothing()
    .returning();
  if (!row) return undefined;
  await db.insert(flowVersions).values({ flowId: id, version: 1, definition, createdAt: now }).onConflictDoNothing();
  return stored(row);
}

/** The prefix of a list trigger's key; the rest of the key is the JSON list of its event names (see triggerKey). */
const EVENT_LIST_PREFIX = "events:";

/**
 * Active flows an event named `eventName` can start: by event name (alone or in a trigger's list), by changed
 * attribute, and every segment trigger.
 */
export async function activeFlowsTriggeredBy(db: Database, eventName: string, changedAttribute: string | null): Promise<StoredFlow[]> {
  const keys = [`event:${eventName}`, ...(changedAttribute ? [`attribute:${changedAttribute}`] : [])];
  // List triggers sit in one key range of the index; json_each reads each one's list, the name bound once.
  const listed = sql`EXISTS (SELECT 1 FROM json_each(substr(${flows.triggerKey}, ${EVENT_LIST_PREFIX.length + 1})) WHERE value = ${eventName})`;
  const rows = await db
    .select()
    .from(flows)
    .where(
      and(
        eq(flows.status, "active"),
        or(
          inArray(flows.triggerKey, keys),
          and(gte(flows.triggerKey, "segment:"), lt(flows.triggerKey, "segment;")),
          and(gte(flows.triggerKey, EVENT_LIST_PREFIX), lt(flows.triggerKey, "events;"), listed),
        ),
      ),
    );
  return rows.map(stored);
}

/** Flows by id (any status), for the enrollments a contact is in. */
export async function flowsByIds(db: Database, ids: string[]): Promise<Map<string, StoredFlow>> {
  if (ids.length === 0) return new Map();
  const rows = await db
    .select()
    .from(flows)
    .where(sql`${flows.id} IN (SELECT value FROM json_each(${JSON.stringify([...new Set(ids)])}))`);
  return new Map(rows.map((r) => [r.id, stored(r)]));
}

/** Active flows whose trigger key starts with a prefix (`date:`, `inactive`), for the time-trigger job. */
export async function activeFlowsWithTriggerPrefix(db: Database, prefix: string): Promise<StoredFlow[]> {
  const rows = await db
    .select()
    .from(flows)
    .where(and(eq(flows.status, "active"), gte(flows.triggerKey, prefix), lt(flows.triggerKey, `${prefix}\uffff`)));
  return rows.map(stored);
}

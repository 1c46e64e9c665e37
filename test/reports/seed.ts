/** Test helpers for reports: a seeded random generator and direct D1 inserts of flows, messages and events. */
import { env } from "cloudflare:workers";
import { openDatabase } from "../../src/db/client";
import { type EventInsert, insertEvents } from "../../src/db/events";
import { rollupEvents } from "../../src/reports/rollups";

export const DAY = 86_400_000;
export const db = () => openDatabase(env.DB);

/** A deterministic PRNG (mulberry32), so a failing property reproduces from its seed. */
export function random(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]) => xs[Math.floor(next() * xs.length)] as T };
}

/** Inserts a flow row with a definition. */
export async function insertFlow(id: string, definition: unknown, status: "draft" | "active" | "paused" = "active") {
  await env.DB.prepare(
    "INSERT INTO flows (id, name, status, version, definition, trigger_key, transactional, created_at, updated_at) VALUES (?, ?, ?, 1, ?, 'event:x', 0, 0, 0)",
  )
    .bind(id, (definition as { name?: string }).name ?? id, status, JSON.stringify(definition))
    .run();
}

/** Inserts a contact row. */
export async function insertContact(id: string, email = `${id}@example.com`) {
  await env.DB.prepare("INSERT INTO contacts (id, email, created_at, updated_at) VALUES (?, ?, 0, 0)").bind(id, email).run();
}

/** Inserts a sent message row of a flow step. */
export async function insertMessage(m: {
  id: string;
  contactId: string;
  flowId: string | null;
  stepId: string | null;
  variant: string | null;
  sentAt?: number;
}) {
  await env.DB.prepare(
    "INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, variant, status, due_at, created_at, sent_at) VALUES (?, ?, ?, 'marketing', ?, ?, ?, 'sent', 0, 0, ?)",
  )
    .bind(m.id, m.contactId, `${m.contactId}@example.com`, m.flowId, m.stepId, m.variant, m.sentAt ?? 0)
    .run();
}

let counter = 0;

/** An event row as the system would record it. */
export function event(
  name: string,
  contactId: string,
  ts: number,
  extra: { messageId?: string; machine?: boolean; value?: number; properties?: Record<string, unknown> } = {},
): EventInsert {
  counter++;
  return {
    id: `evt_${String(counter).padStart(6, "0")}`,
    contactId,
    anonymousId: null,
    name,
    properties: extra.properties ?? {},
    value: extra.value ?? null,
    source: "system",
    machine: extra.machine ?? false,
    messageId: extra.messageId ?? null,
    ts,
  };
}

/** Stores events and rolls up the newly stored ones, as recordEvents does. */
export async function store(rows: EventInsert[], now: number) {
  const d = db();
  const newIds = await insertEvents(d, rows, now);
  await rollupEvents(
    d,
    [...newIds].map((id) => ({ id })),
    now,
  );
}

/** The stats_daily rows, keyed `flow|day|step|variant`, with zero counters left out. */
export async function rollupTable(): Promise<Record<string, Record<string, number>>> {
  const { results } = await env.DB.prepare("SELECT * FROM stats_daily").all<Record<string, string | number>>();
  const out: Record<string, Record<string, number>> = {};
  for (const r of results) {
    const key = `${r.flow_id}|${r.day}|${r.step_id}|${r.variant}`;
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(r)) if (typeof v === "number" && v !== 0) counters[k] = Math.round(v * 100) / 100;
    if (Object.keys(counters).length) out[key] = counters;
  }
  return out;
}

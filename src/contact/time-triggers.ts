/**
 * Date and inactivity triggers (`{date}`, `{inactive_for}`). Once a day, and
 * when such a flow is activated, each active flow scans the contacts it could
 * start for in the next two days (one indexed pass over contacts, never more
 * than once a day per flow) and hands each occurrence to the contact's
 * ContactTimer, which fires it at its local time through its alarm. An
 * occurrence is named by flow, contact and date, so rescans and retries never
 * enroll twice.
 */
import { and, asc, gt, sql } from "drizzle-orm";
import { alias } from "drizzle-orm/sqlite-core";
import type { Database } from "../db/client";
import { contactFacts } from "../db/contacts";
import { activeFlowsWithTriggerPrefix, type StoredFlow } from "../db/flows";
import { type ContactRow, contacts } from "../db/schema";
import type { Env } from "../env";
import { contactAttribute } from "../flows/conditions";
import { durationMs, offsetMs } from "../flows/duration";
import { dateAttributeInstant, localTime, nextYearlyInstant } from "../flows/schedule";
import type { ScheduledTrigger } from "./contact-timer";
import { contactTimer } from "./record-events";

const DAY_MS = 86_400_000;
/** Occurrences up to this far ahead are handed over at each scan (the daily scan may run late). */
const LOOKAHEAD_MS = 2 * DAY_MS;
/** Occurrences this recent are still fired when first seen (a flow activated after its hour). */
const GRACE_MS = 12 * 3_600_000;
/** A flow activated or edited this recently is scanned without the lower bound, so every matching contact enters. */
const FRESH_FLOW_MS = 2 * DAY_MS;
const PAGE_SIZE = 500;
const HANDOFF_CONCURRENCY = 16;

/** Scans every active date and inactivity flow (or only the given ones) and schedules what is due soon. */
export async function scheduleTimeTriggers(env: Env, db: Database, now: number, only?: StoredFlow[]): Promise<number> {
  const flows = only ?? [...(await activeFlowsWithTriggerPrefix(db, "date:")), ...(await activeFlowsWithTriggerPrefix(db, "inactive"))];
  let scheduled = 0;
  for (const flow of flows) {
    const trigger = flow.definition.trigger;
    if ("date" in trigger) scheduled += await scanDateFlow(env, db, flow, trigger.date, now);
    else if ("inactive_for" in trigger) scheduled += await scanInactiveFlow(env, db, flow, trigger.inactive_for, now);
  }
  return scheduled;
}

type DateRule = { attribute: string; offset?: string; at?: string; repeat?: "once" | "yearly" };

async function scanDateFlow(env: Env, db: Database, flow: StoredFlow, rule: DateRule, now: number): Promise<number> {
  const path = `$."${rule.attribute.replaceAll('"', '""')}"`;
  const systemColumn = rule.attribute === "created_at" || rule.attribute === "last_order_at";
  // json_valid: one contact's unreadable attributes (nested past SQLite's limit) must not stop the scan for everyone.
  const has = systemColumn
    ? sql.raw(`c.${rule.attribute} IS NOT NULL`)
    : sql`json_extract(CASE WHEN json_valid(c.attributes) THEN c.attributes END, ${path}) IS NOT NULL`;
  return forEachContactPage(db, has, async (page) => {
    const due: ScheduledTrigger[] = [];
    for (const row of page) {
      const facts = contactFacts(row, false);
      const tz = facts.timezone ?? flow.definition.settings?.timezone ?? "UTC";
      const value = contactAttribute(facts, rule.attribute);
      const when = { ...(rule.at ? { at: rule.at } : {}), offsetMs: offsetMs(rule.offset) };
      const fireAt = rule.repeat === "yearly" ? nextYearlyInstant(value, when, tz, now - GRACE_MS) : dateAttributeInstant(value, when, tz);
      if (fireAt === null || fireAt < now - GRACE_MS || fireAt >= now + LOOKAHEAD_MS) continue;
      const day = localTime(fireAt, tz);
      due.push({
        contactId: row.id,
        flowId: flow.id,
        occurrence: `date:${flow.id}:${day.year}-${day.month}-${day.day}`,
        fireAt,
        event: { name: "date_reached", properties: { attribute: rule.attribute, date: typeof value === "string" ? value : null } },
      });
    }
    await handOver(env, due);
    return due.length;
  });
}

async function scanInactiveFlow(env: Env, db: Database, flow: StoredFlow, inactiveFor: string, now: number): Promise<number> {
  const inactiveMs = durationMs(inactiveFor);
  const lastEngaged = sql`max(coalesce(c.last_opened_at, 0), coalesce(c.last_clicked_at, 0), c.created_at)`;
  const fresh = now - flow.updatedAt < FRESH_FLOW_MS;
  const window = fresh
    ? sql`${lastEngaged} <= ${now + LOOKAHEAD_MS - inactiveMs}`
    : sql`${lastEngaged} <= ${now + LOOKAHEAD_MS - inactiveMs} AND ${lastEngaged} > ${now - GRACE_MS - DAY_MS - inactiveMs}`;
  return forEachContactPage(db, window, async (page) => {
    const due = page.map((row) => {
      const since = Math.max(row.lastOpenedAt ?? 0, row.lastClickedAt ?? 0, row.createdAt);
      return {
        contactId: row.id,
        flowId: flow.id,
        occurrence: `inactive:${flow.id}:${since}`,
        fireAt: Math.max(since + inactiveMs, now),
        event: { name: "inactive", properties: { since: new Date(since).toISOString(), for: inactiveFor } },
      } satisfies ScheduledTrigger;
    });
    await handOver(env, due);
    return due.length;
  });
}

/** Walks the contacts matching `where` in id order, a page at a time. */
async function forEachContactPage(
  db: Database,
  where: ReturnType<typeof sql>,
  visit: (page: ContactRow[]) => Promise<number>,
): Promise<number> {
  const c = alias(contacts, "c");
  let after = "";
  let total = 0;
  for (;;) {
    const page = await db
      .select()
      .from(c)
      .where(and(where, gt(c.id, after)))
      .orderBy(asc(c.id))
      .limit(PAGE_SIZE);
    total += await visit(page);
    const last = page[page.length - 1];
    if (!last || page.length < PAGE_SIZE) return total;
    after = last.id;
  }
}

async function handOver(env: Env, due: ScheduledTrigger[]): Promise<void> {
  const work = [...due];
  const run = async () => {
    for (let t = work.pop(); t; t = work.pop()) await contactTimer(env, t.contactId).scheduleTrigger(t);
  };
  await Promise.all(Array.from({ length: Math.min(HANDOFF_CONCURRENCY, work.length) }, run));
}

/**
 * Carries broadcasts forward, from the every-minute cron: starts scheduled
 * ones whose time has come, fans each sending one's audience out into the
 * outbox a page at a time (db/broadcasts: one INSERT … SELECT per page, the
 * cursor on the broadcast row), decides an A/B test once its sample has had
 * its `wait`, releases the held remainder with the winner, and marks a
 * broadcast `sent` once nothing of it is left to send. Every step is safe to
 * repeat or to interrupt: a crash mid-way leaves the cursor at the last page
 * queued whole, and the next run goes on from there. Delivery itself is the
 * sender's, as for flow mail.
 */
import type { SQL } from "drizzle-orm";
import {
  type AudienceMember,
  audienceSql,
  broadcastStatsKey,
  findBroadcast,
  hasUnsent,
  heldZones,
  markFannedOut,
  moveBroadcast,
  queueAudiencePage,
  readAudiencePage,
  recordWinner,
  releaseHeld,
  sampleProgress,
  startDueBroadcasts,
  suppressedKeys,
} from "../db/broadcasts";
import type { Database } from "../db/client";
import type { BroadcastRow } from "../db/schema";
import { findSegmentCondition } from "../db/segments";
import { erasedAddressKey } from "../db/suppressions";
import { durationMs } from "../flows/duration";
import type { Condition } from "../flows/schema";
import { variantCounters } from "../reports/abtest";
import { zeroCounters } from "../reports/metrics";
import { chooseWinner, dueByZone, HELD_UNTIL_WINNER, VARIANT_NAMES, zoned } from "./plan";
import { type BroadcastInput, StoredBroadcast } from "./schema";

/** Contacts per page: one INSERT … SELECT of 500 rows stays far inside D1's per-statement time and size limits. */
export const PAGE_SIZE = 500;
/**
 * Pages one run may queue. Each costs three D1 calls (read, erased keys, the insert batch), so 100 pages stay under
 * a third of the 1,000 subrequests of an invocation and queue 50,000 contacts a minute, far above the send rate.
 */
export const PAGES_PER_RUN = 100;
/** Held messages released per statement once an A/B winner is known. */
const RELEASE_LIMIT = 5_000;
/** Reason recorded on the messages of contacts left out by smart sending. */
export const SMART_SENDING_REASON = "smart_sending";

/** What a run did, for logs and tests. */
export interface BroadcastRunReport {
  started: string[];
  pagesQueued: number;
  decided: string[];
  released: number;
  finished: string[];
}

/** The cron's one call: moves every scheduled or sending broadcast on, within `pageBudget` audience pages in all. */
export async function advanceBroadcasts(
  db: Database,
  secret: string,
  now: number,
  pageBudget = PAGES_PER_RUN,
): Promise<BroadcastRunReport> {
  const report: BroadcastRunReport = { started: [], pagesQueued: 0, decided: [], released: 0, finished: [] };
  const sending = await startDueBroadcasts(db, now);
  let budget = pageBudget;
  for (const id of sending) {
    const row = await findBroadcast(db, id);
    if (row?.status !== "sending") continue;
    const definition = StoredBroadcast.parse(row.definition);
    if (row.fannedOutAt === null) {
      const queued = await fanOut(db, secret, row, definition, now, budget);
      budget -= queued.pages;
      report.pagesQueued += queued.pages;
      if (!queued.done) continue;
    }
    if (definition.ab_test) {
      const outcome = await runAbTest(db, row, definition, now);
      if (outcome.decided) report.decided.push(id);
      report.released += outcome.released;
      if (!outcome.complete) continue;
    }
    if (!(await hasUnsent(db, id)) && (await moveBroadcast(db, id, ["sending"], "sent", now, { finishedAt: now })))
      report.finished.push(id);
  }
  return report;
}

/** The audience's condition: the segment's (null when the segment is gone: nobody), the condition, or all (no condition). */
async function audienceCondition(db: Database, definition: Pick<BroadcastInput, "audience">): Promise<Condition | null | "nobody"> {
  const audience = definition.audience;
  if ("segment" in audience && typeof audience.segment === "string") return (await findSegmentCondition(db, audience.segment)) ?? "nobody";
  if ("all" in audience && audience.all === true) return null;
  return audience as Condition;
}

/** The audience as SQL over `contacts AS c`, fixed at `now`. */
export async function audienceOf(db: Database, definition: Pick<BroadcastInput, "audience">, now: number): Promise<SQL | null> {
  const condition = await audienceCondition(db, definition);
  return condition === "nobody" ? null : audienceSql(condition, now);
}

/** Queues audience pages until the budget is spent or the audience is exhausted. */
async function fanOut(
  db: Database,
  secret: string,
  row: BroadcastRow,
  definition: BroadcastInput,
  now: number,
  budget: number,
): Promise<{ pages: number; done: boolean }> {
  const audience = await audienceOf(db, definition, row.startedAt ?? now);
  if (audience === null) {
    await markFannedOut(db, row.id, now);
    return { pages: 0, done: true };
  }
  const sendAt = row.sendAt ?? row.startedAt ?? now;
  const defaultZone = definition.timezone ?? "UTC";
  const test = definition.ab_test;
  const sample = test
    ? {
        percent: test.sample_percent,
        variants: test.variants.map((v, i) => ({ name: VARIANT_NAMES[i]!, ...v })),
      }
    : null;
  const skipWithin = definition.skip_if_emailed_within;
  const skipEmailedSince = skipWithin ? now - durationMs(skipWithin) : null;
  let cursor = row.cursor ?? "";
  let pages = 0;
  while (pages < budget) {
    const page = await readAudiencePage(db, audience, cursor, PAGE_SIZE);
    if (page.length === 0) {
      await markFannedOut(db, row.id, now);
      return { pages, done: true };
    }
    const excluded = await erasedMembers(db, secret, page);
    const zones = [...new Set(page.map((m) => m.timezone ?? defaultZone))];
    const last = page[page.length - 1]!.id;
    const moved = await queueAudiencePage(db, {
      broadcastId: row.id,
      audience,
      cursor,
      last,
      count: page.length - excluded.length,
      excluded,
      template: definition.template,
      context: { broadcast: { id: row.id, name: row.name } },
      sample,
      dueByZone: zoned(definition) ? dueByZone(zones, sendAt, definition) : null,
      defaultZone,
      sendAt,
      heldUntil: HELD_UNTIL_WINNER,
      skipEmailedSince,
      skipReason: `${SMART_SENDING_REASON}: emailed within ${skipWithin ?? "-"}`,
      now,
    });
    pages++;
    // Another run moved the cursor first (overlapping crons) or the broadcast was cancelled: leave it to that run.
    if (!moved) return { pages, done: false };
    cursor = last;
  }
  return { pages, done: false };
}

/** The page's erased people: their address's keyed hash is on the suppression list (SPEC section 9). */
async function erasedMembers(db: Database, secret: string, page: AudienceMember[]): Promise<string[]> {
  const keyOf = new Map<string, string>();
  for (const m of page) keyOf.set(m.id, await erasedAddressKey(secret, m.email));
  const suppressed = await suppressedKeys(db, [...keyOf.values()]);
  return page.filter((m) => suppressed.has(keyOf.get(m.id)!)).map((m) => m.id);
}

/** Decides the test once the sample is out and has waited, then releases the remainder; `complete` once all are released. */
async function runAbTest(
  db: Database,
  row: BroadcastRow,
  definition: BroadcastInput,
  now: number,
): Promise<{ decided: boolean; released: number; complete: boolean }> {
  const test = definition.ab_test!;
  let winner = row.winner as { variant: string } | null;
  let decided = false;
  if (!winner) {
    const progress = await sampleProgress(db, row.id, HELD_UNTIL_WINNER);
    if (progress.pending > 0 || (progress.lastSent !== null && now < progress.lastSent + durationMs(test.wait))) {
      return { decided: false, released: 0, complete: false };
    }
    const counters = await variantCounters(db, broadcastStatsKey(row.id), "");
    const choice = chooseWinner(
      test.metric,
      test.variants.map((_, i) => ({ name: VARIANT_NAMES[i]!, counters: counters.get(VARIANT_NAMES[i]!) ?? zeroCounters() })),
    );
    const record = {
      variant: choice.variant,
      reason: choice.reason,
      p_value: choice.comparison.p_value,
      decided_at: new Date(now).toISOString(),
    };
    decided = await recordWinner(db, row.id, record, now);
    winner = record;
  }
  const index = VARIANT_NAMES.indexOf(winner.variant as (typeof VARIANT_NAMES)[number]);
  const chosen = test.variants[index] ?? test.variants[0]!;
  const defaultZone = definition.timezone ?? "UTC";
  const byZone = zoned(definition) ? dueByZone(await heldZones(db, row.id, HELD_UNTIL_WINNER, defaultZone), now, definition) : null;
  let released = 0;
  for (;;) {
    const n = await releaseHeld(
      db,
      row.id,
      HELD_UNTIL_WINNER,
      { template: chosen.template ?? definition.template, subject: chosen.subject ?? null },
      { byZone, defaultZone, at: now },
      RELEASE_LIMIT,
    );
    released += n;
    if (n < RELEASE_LIMIT) return { decided, released, complete: true };
  }
}

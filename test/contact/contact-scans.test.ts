import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TimerCallBudget } from "../../src/contact/call-budget";
import { advanceContactScans, startActivationScans } from "../../src/contact/contact-scans";
import { openDatabase } from "../../src/db/client";
import { findFlow, setFlowStatus } from "../../src/db/flows";
import type { Env } from "../../src/env";
import { callJson } from "../helpers/api";
import { createTemplates, fireAlarm, markSubscribed, sleep, track } from "../helpers/flows";

const DAY = 86_400_000;
/** Forced small, so that a few hundred contacts take several runs. */
const LIMITS = { pages: 2, readRows: 25 };
/** Workers Free's budget for one invocation. */
const CALLS_PER_RUN = 40;

/** What one run did against the platform: D1 statements prepared and ContactTimer stubs called. */
interface RunCounts {
  d1: number;
  timers: number;
}

/**
 * The test env with D1 and the ContactTimer namespace counted; `crashAtCursorMove` makes the n-th cursor move
 * throw, as an invocation that dies after handing a page over and before recording it.
 */
function countingEnv(counts: RunCounts, crashAtCursorMove?: number): Env {
  let moves = 0;
  const DB = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "prepare") {
        return (query: string) => {
          counts.d1++;
          if (query.startsWith("UPDATE contact_scans") && ++moves === crashAtCursorMove) throw new Error("crash between pages");
          return target.prepare(query);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const CONTACT_TIMER = new Proxy(env.CONTACT_TIMER, {
    get(target, prop) {
      if (prop === "get") {
        return (id: DurableObjectId) => {
          counts.timers++;
          return target.get(id);
        };
      }
      const value = Reflect.get(target, prop);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { ...(env as Env), DB, CONTACT_TIMER } as Env;
}

/** One every-minute cron run's share of the walks: a fresh invocation's budget, the small limits. */
async function runOnce({
  calls = CALLS_PER_RUN,
  crashAtCursorMove,
}: {
  calls?: number;
  crashAtCursorMove?: number;
} = {}): Promise<RunCounts> {
  const counts: RunCounts = { d1: 0, timers: 0 };
  const runEnv = countingEnv(counts, crashAtCursorMove);
  await advanceContactScans(runEnv, openDatabase(runEnv.DB), Date.now(), new TimerCallBudget(calls), { limits: LIMITS });
  return counts;
}

async function walkRunning(flowId: string): Promise<boolean> {
  return (await env.DB.prepare("SELECT 1 FROM contact_scans WHERE flow_id = ?").bind(flowId).first()) !== null;
}

/** Enrollments per contact, and how many entries the flow's rollups counted: a page handed over twice would show in either. */
async function entries(flowId: string): Promise<{ perContact: Map<string, number>; counted: number }> {
  const { results } = await env.DB.prepare("SELECT contact_id AS id, count(*) AS n FROM enrollments WHERE flow_id = ? GROUP BY contact_id")
    .bind(flowId)
    .all<{ id: string; n: number }>();
  const counted = await env.DB.prepare("SELECT coalesce(sum(entered), 0) AS n FROM stats_daily WHERE flow_id = ?")
    .bind(flowId)
    .first<number>("n");
  return { perContact: new Map(results.map((r) => [r.id, r.n])), counted: counted ?? 0 };
}

async function mailPerContact(flowId: string): Promise<Map<string, number>> {
  const { results } = await env.DB.prepare("SELECT contact_id AS id, count(*) AS n FROM messages WHERE flow_id = ? GROUP BY contact_id")
    .bind(flowId)
    .all<{ id: string; n: number }>();
  return new Map(results.map((r) => [r.id, r.n]));
}

/** Creates `n` subscribers whose last engagement was `ago` ms back; returns their ids. */
async function dormantContacts(prefix: string, n: number, ago: number): Promise<string[]> {
  const emails = Array.from({ length: n }, (_, i) => `${prefix}-${i}@example.com`);
  await markSubscribed(emails);
  await env.DB.prepare("UPDATE contacts SET created_at = ? WHERE email IN (SELECT value FROM json_each(?))")
    .bind(Date.now() - ago, JSON.stringify(emails))
    .run();
  const { results } = await env.DB.prepare("SELECT id FROM contacts WHERE email IN (SELECT value FROM json_each(?))")
    .bind(JSON.stringify(emails))
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Saves a flow and makes it active with its walks started, as activation does, but leaves every page to the test. */
async function activateWithoutFirstPage(definition: { id: string } & Record<string, unknown>): Promise<void> {
  const put = await callJson(`/v1/flows/${definition.id}`, { method: "PUT", body: definition });
  expect(put.status, JSON.stringify(put.body)).toBeLessThan(300);
  const db = openDatabase(env.DB);
  await setFlowStatus(db, definition.id, "active", Date.now());
  await startActivationScans(db, (await findFlow(db, definition.id))!, Date.now());
}

describe("an inactivity scan over more contacts than one invocation may call", () => {
  it("completes over several cron runs, each within Free's limits, every eligible contact entering exactly once", async () => {
    const dormant = await dormantContacts("paged", 130, 60 * DAY);
    const recent = await dormantContacts("paged-recent", 5, DAY);
    await activateWithoutFirstPage({
      id: "paged-inactive",
      name: "Paged inactivity",
      trigger: { inactive_for: "30d" },
      // A long wait: entering is what is counted here, and no mail keeps the run short.
      steps: [{ id: "hold", type: "wait", for: "30d" }],
    });
    let runs = 0;
    while (await walkRunning("paged-inactive")) {
      const counts = await runOnce();
      runs++;
      expect(counts.timers).toBeLessThanOrEqual(CALLS_PER_RUN);
      // The list of walks, their flows, and a read and a cursor move per page.
      expect(counts.d1).toBeLessThanOrEqual(2 + 2 * LIMITS.pages);
      expect(runs).toBeLessThan(20);
    }
    expect(runs).toBeGreaterThanOrEqual(Math.ceil(130 / CALLS_PER_RUN));
    const { perContact, counted } = await entries("paged-inactive");
    expect(dormant.filter((id) => perContact.get(id) !== 1)).toEqual([]);
    expect(recent.filter((id) => perContact.has(id))).toEqual([]);
    expect(perContact.size).toBe(130);
    expect(counted).toBe(130);
  }, 300_000);

  it("resumes after a run crashes between handing a page over and moving its cursor, doubling no one", async () => {
    const dormant = await dormantContacts("crash", 40, 60 * DAY);
    await activateWithoutFirstPage({
      id: "crash-inactive",
      name: "Crash inactivity",
      trigger: { inactive_for: "30d" },
      steps: [{ id: "hold", type: "wait", for: "30d" }],
    });
    await runOnce({ calls: 10 });
    const cursorBefore = await env.DB.prepare("SELECT cursor FROM contact_scans WHERE flow_id = ?").bind("crash-inactive").first("cursor");
    await expect(runOnce({ calls: 10, crashAtCursorMove: 1 })).rejects.toThrow("crash between pages");
    // The crashed run handed its page over, but the cursor stayed where the last whole page left it.
    expect(await env.DB.prepare("SELECT cursor FROM contact_scans WHERE flow_id = ?").bind("crash-inactive").first("cursor")).toBe(
      cursorBefore,
    );
    let runs = 0;
    while ((await walkRunning("crash-inactive")) && runs++ < 20) await runOnce();
    const { perContact, counted } = await entries("crash-inactive");
    expect(dormant.filter((id) => perContact.get(id) !== 1)).toEqual([]);
    expect(counted).toBe(40);
  }, 240_000);
});

describe("activating a paused flow again", () => {
  it("wakes every held enrollment over several runs, each woken once", async () => {
    await createTemplates("resume-1");
    const put = await callJson("/v1/flows/paged-resume", {
      method: "PUT",
      body: {
        id: "paged-resume",
        name: "Paged resume",
        trigger: { event: "resume_start" },
        steps: [
          { id: "w", type: "wait", for: "1s" },
          { id: "e", type: "email", template: "resume-1" },
        ],
      },
    });
    expect(put.status).toBeLessThan(300);
    expect((await callJson("/v1/flows/paged-resume/activate", { method: "POST" })).status).toBe(200);
    const emails = Array.from({ length: 40 }, (_, i) => `resume-${i}@example.com`);
    await track(emails.map((email) => ({ email, name: "resume_start" })));
    expect((await callJson("/v1/flows/paged-resume/pause", { method: "POST" })).status).toBe(200);
    await sleep(1100);
    const { results } = await env.DB.prepare("SELECT DISTINCT contact_id AS id FROM enrollments WHERE flow_id = ?")
      .bind("paged-resume")
      .all<{ id: string }>();
    expect(results).toHaveLength(40);
    // Their waits end while the flow is paused: each ContactTimer holds its enrollment.
    for (const { id } of results) await fireAlarm(id);
    expect((await mailPerContact("paged-resume")).size).toBe(0);

    // The activating request wakes a first page after its response; the cron runs wake the rest.
    expect((await callJson("/v1/flows/paged-resume/activate", { method: "POST" })).status).toBe(200);
    let runs = 0;
    while ((await walkRunning("paged-resume")) && runs++ < 20) {
      const counts = await runOnce({ calls: 5 });
      expect(counts.timers).toBeLessThanOrEqual(5);
    }
    let mail = await mailPerContact("paged-resume");
    for (let waited = 0; mail.size < 40 && waited < 50; waited++) {
      await sleep(100);
      mail = await mailPerContact("paged-resume");
    }
    expect(results.filter(({ id }) => mail.get(id) !== 1)).toEqual([]);
  }, 240_000);
});

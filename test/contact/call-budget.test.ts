import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { TimerCallBudget } from "../../src/contact/call-budget";
import { openDatabase } from "../../src/db/client";
import type { Env } from "../../src/env";
import { recordEvents, redispatchUndispatched } from "../../src/pipeline/pipeline";
import { contactId, timerOf } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";

const undispatched = async () =>
  (await env.DB.prepare("SELECT event_id FROM undispatched_events ORDER BY event_id").all<{ event_id: string }>()).results.map(
    (r) => r.event_id,
  );

describe("ContactTimer calls past an invocation's budget", () => {
  it("are kept for the next cron runs, which hand them over within their own budgets, each event once", async () => {
    const _db = openDatabase(env.DB);
    const ids = await Promise.all(Array.from({ length: 5 }, (_, i) => contactId(`budget-${i}@example.com`)));
    const now = Date.now();
    const rows = ids.map((id, i) => ({
      id: `budget_evt_${i}`,
      contactId: id,
      anonymousId: null,
      name: "budget_checked",
      properties: {},
      value: null,
      source: "api" as const,
      machine: false,
      messageId: null,
      ts: now,
    }));
    const calls = new TimerCallBudget(2);
    await recordEvents(pipelineFor(env as Env), rows, now, { calls });
    expect(calls.remaining).toBe(0);
    expect(await undispatched()).toHaveLength(3);

    await redispatchUndispatched(pipelineFor(env as Env), Date.now(), new TimerCallBudget(2));
    expect(await undispatched()).toHaveLength(1);
    await redispatchUndispatched(pipelineFor(env as Env), Date.now(), new TimerCallBudget(2));
    expect(await undispatched()).toEqual([]);
    for (const [i, id] of ids.entries()) {
      expect((await timerOf(id).receivedEvents()).map((e) => e.id)).toEqual([`budget_evt_${i}`]);
    }
  });
});

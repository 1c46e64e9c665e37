#!/usr/bin/env node
import { ensureWrk, runWrk, workerdCpuMs } from "./lib/load.mjs";
// Flow stats latency against the size of the events table: seeds 10,000
// events into the local D1 of a `wrangler dev --local` instance (loopback,
// free port, throwaway state), measures GET /v1/flows/:id/stats with wrk (one
// connection, 4 s: p50, p99, requests/s and workerd CPU per request), grows the
// table to 1,000,000 events and measures again. Reports read rollups only, so
// the ratio of the medians should stay near 1 (goal: ≤ 1.5). Bounded: fixed
// durations and a hard time limit; it stops its wrangler and deletes its state
// on exit.
import { startLocalWorker } from "./lib/local-worker.mjs";

const HARD_LIMIT_MS = 5 * 60_000;
const SECONDS = 4;
const SMALL = 10_000;
const LARGE = 1_000_000;
const GOAL = 1.5;
const DAYS = 30;
const DAY_MS = 86_400_000;

const start = Date.UTC(2026, 9, 1);
const from = new Date(start).toISOString().slice(0, 10);
const to = new Date(start + (DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
const steps = ["hello", "value", "nudge", "cta", "last"];

/** Events numbered (first, last]: sends, opens, clicks and orders of the welcome flow over 30 days. */
function seedEvents(first, last) {
  return `WITH RECURSIVE n(i) AS (SELECT ${first + 1} UNION ALL SELECT i + 1 FROM n WHERE i < ${last})
INSERT INTO events (id, contact_id, name, properties, value, source, machine, message_id, ts, received_at)
SELECT 'evt_' || i, 'c' || (i % 20000),
  CASE i % 10 WHEN 0 THEN 'order_placed' WHEN 1 THEN 'email_clicked' WHEN 2 THEN 'email_opened' WHEN 3 THEN 'email_opened' ELSE 'email_sent' END,
  CASE WHEN i % 10 = 0 THEN '{}' ELSE json_object('flow_id', 'welcome', 'step_id', ${sqlList(steps)}, 'variant',
    CASE WHEN (i / 10) % 5 = 1 THEN CASE WHEN i % 2 = 0 THEN 'welcome-2a' ELSE 'welcome-2b' END ELSE NULL END) END,
  CASE WHEN i % 10 = 0 THEN 20 + i % 80 ELSE NULL END, 'system', (i % 17 = 2),
  CASE WHEN i % 10 = 0 THEN NULL ELSE 'm' || (i / 4) END,
  ${start} + (i * 7919) % ${DAYS * DAY_MS}, ${start + DAYS * DAY_MS}
FROM n;`;
}

function sqlList(values) {
  return `CASE (i / 10) % ${values.length} ${values.map((v, k) => `WHEN ${k} THEN '${v}'`).join(" ")} END`;
}

/** Rebuilds the rollups from the seeded events, as rollupEvents would have kept them (bulk, once). */
const rebuildRollups = `DELETE FROM stats_daily;
INSERT INTO stats_daily (flow_id, day, step_id, variant, sent, unique_opens, unique_clicks, machine_opens, machine_clicks)
SELECT coalesce(properties ->> '$.flow_id', ''), strftime('%Y-%m-%d', ts / 1000, 'unixepoch'), coalesce(properties ->> '$.step_id', ''),
  coalesce(properties ->> '$.variant', ''), sum(name = 'email_sent'), sum(name = 'email_opened' AND machine = 0),
  sum(name = 'email_clicked' AND machine = 0), sum(name = 'email_opened' AND machine = 1), sum(name = 'email_clicked' AND machine = 1)
FROM events WHERE name != 'order_placed' GROUP BY 1, 2, 3, 4;`;

async function measure(worker) {
  const target = `/v1/flows/welcome/stats?from=${from}&to=${to}`;
  const answer = await worker.api(target);
  const headers = { authorization: `Bearer ${worker.adminKey}` };
  await runWrk({ origin: worker.url, paths: [target], connections: 1, seconds: 1, headers }); // warm up
  const cpuBefore = workerdCpuMs(worker.processGroup());
  const load = await runWrk({ origin: worker.url, paths: [target], connections: 1, seconds: SECONDS, headers });
  if (load.errors + load.badStatus > 0) throw new Error(`stats: ${load.errors} socket errors, ${load.badStatus} non-2xx answers`);
  const cpu = (workerdCpuMs(worker.processGroup()) - cpuBefore) / Math.max(1, load.requests);
  return { ...load, cpu, sent: answer.totals.sent };
}

const describe = (n, r) =>
  `${n.toLocaleString("en-US")} events: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, ${r.rps.toFixed(0)} req/s, CPU ${r.cpu.toFixed(2)} ms/request (flow sent ${r.sent})`;

async function main() {
  ensureWrk();
  const worker = await startLocalWorker({ name: "reports", limitMs: HARD_LIMIT_MS });
  try {
    // The dev server is stopped while the local SQLite file is seeded, then started again on the same state.
    await worker.restart(() =>
      worker.executeSql(`INSERT INTO flows (id, name, status, version, definition, trigger_key, transactional, created_at, updated_at) VALUES ('welcome', 'Welcome', 'active', 1, ${`'${JSON.stringify({ id: "welcome", name: "Welcome", steps: steps.map((id) => ({ id, type: "email", template: id })) })}'`}, 'event:subscribed', 0, 0, 0);
${seedEvents(0, SMALL)}
${rebuildRollups}`),
    );
    const small = await measure(worker);
    console.log(describe(SMALL, small));
    await worker.restart(() => {
      const t0 = Date.now();
      worker.executeSql(`${seedEvents(SMALL, LARGE)}\n${rebuildRollups}`);
      console.log(`seeded ${(LARGE - SMALL).toLocaleString("en-US")} more events in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    });
    const large = await measure(worker);
    console.log(describe(LARGE, large));
    const ratio = large.p50 / small.p50;
    console.log(
      `flow stats latency ratio (1M / 10k events, median): ${ratio.toFixed(2)} (goal ≤ ${GOAL}) ${ratio <= GOAL ? "PASS" : "FAIL"}`,
    );
    return ratio <= GOAL;
  } finally {
    worker.stop();
  }
}

main()
  .then((ok) => process.exit(ok ? 0 : 1))
  .catch((error) => {
    console.error(error);
    process.exit(1);
  });

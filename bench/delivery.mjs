#!/usr/bin/env node
// Delivery throughput through a fake Resend on loopback.
// 1. Throttled like the real provider's defaults (2 requests/s, 100 emails per
//    batch, 429 beyond): two overlapping cron runs drain the queue; sustained
//    emails/s over a 30 s window must be ≥ 0.95 × the 200 emails/s those limits
//    allow, with zero 429 answers.
// 2. Unthrottled: 10,000 queued messages drained by cron; emails/s, and the
//    CPU time of the workerd processes per message (from /proc, as every bench).
// Delivery is driven by its cron, not by requests, so this bench keeps its own
// driver (it fires the cron and watches the fake provider) rather than wrk.
// Loopback only, fixed counts, a hard time limit; everything stops by itself.
import { BATCH_LIMIT, LIMIT_PER_SECOND, startFakeResend } from "./lib/fake-resend.mjs";
import { workerdCpuMs } from "./lib/load.mjs";
import { startLocalWorker } from "./lib/local-worker.mjs";

const ALLOWED = LIMIT_PER_SECOND * BATCH_LIMIT;
const GOAL = 0.95;
const WINDOW_MS = 30_000;
const DRAIN = Number(process.env.BENCH_DELIVERY_MESSAGES ?? 10_000);
const POOL = 200;

/** Queues `count` marketing messages over a pool of subscribed contacts (SQL, while the dev server is stopped). */
function queueSql(count) {
  const now = Date.now();
  return `INSERT INTO templates (id, subject, html, created_at, updated_at) VALUES ('bench', 'Hello {{ contact.first_name }}',
  '<html><body><p>Hi {{ contact.first_name }}, {{ event.properties.items.size }} items wait.</p><a href="https://shop.test/cart">Cart</a> <a href="https://shop.test/new">New</a></body></html>', 0, 0);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${POOL - 1})
INSERT INTO contacts (id, email, first_name, consent, attributes, tags, created_at, updated_at)
SELECT 'c' || i, 'c' || i || '@bench.test', 'Reader' || i, 'subscribed', '{}', '[]', ${now}, ${now} FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${count - 1})
INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, template_id, context, status, due_at, created_at)
SELECT 'm' || i, 'c' || (i % ${POOL}), 'c' || (i % ${POOL}) || '@bench.test', 'marketing', 'bench', 'hello', 'bench',
  '{"event":{"name":"checkout_started","properties":{"items":[1,2]}}}', 'queued', ${now - 1000} + i, ${now} FROM n;`;
}

const fire = (worker) => fetch(`${worker.url}/__scheduled?cron=${encodeURIComponent("* * * * *")}`).catch(() => {});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function throttledRun() {
  const fake = await startFakeResend({ throttled: true });
  const worker = await startLocalWorker({
    name: "delivery-throttled",
    limitMs: 3 * 60_000,
    vars: { RESEND_API_KEY: "re_bench", RESEND_BASE_URL: fake.url, SEND_RATE_PER_SECOND: String(LIMIT_PER_SECOND) },
  });
  try {
    await worker.restart(() => worker.executeSql(queueSql(Math.round((ALLOWED * (WINDOW_MS + 15_000)) / 1000))));
    const started = Date.now();
    fire(worker);
    await sleep(10_000);
    fire(worker); // a second run overlapping the first, as the next minute's cron would
    await sleep(WINDOW_MS);
    const from = started + 5_000;
    const to = from + WINDOW_MS;
    const sent = fake.accepted.filter((at) => at >= from && at < to).length;
    const rate = sent / (WINDOW_MS / 1000);
    const { rejected429, overBatch } = fake.stats();
    const ratio = rate / ALLOWED;
    console.log(
      `delivery, provider limits ${LIMIT_PER_SECOND} requests/s × ${BATCH_LIMIT} emails: ${rate.toFixed(1)} emails/s sustained over ${WINDOW_MS / 1000} s`,
    );
    console.log(`  429 answers: ${rejected429}, oversize batches: ${overBatch}`);
    console.log(
      `  ratio to the ${ALLOWED} emails/s allowed = ${ratio.toFixed(3)} (goal ≥ ${GOAL}) ${ratio >= GOAL && rejected429 === 0 ? "PASS" : "FAIL"}`,
    );
    return ratio >= GOAL && rejected429 === 0 && overBatch === 0;
  } finally {
    worker.stop();
    await fake.stop();
  }
}

async function unthrottledRun() {
  const fake = await startFakeResend({ throttled: false });
  const worker = await startLocalWorker({
    name: "delivery-drain",
    limitMs: 4 * 60_000,
    vars: { RESEND_API_KEY: "re_bench", RESEND_BASE_URL: fake.url, SEND_RATE_PER_SECOND: "1000" },
  });
  try {
    await worker.restart(() => worker.executeSql(queueSql(DRAIN)));
    const group = worker.processGroup();
    const cpuBefore = workerdCpuMs(group);
    const started = Date.now();
    fire(worker);
    while (fake.accepted.length < DRAIN && Date.now() - started < 150_000) {
      await sleep(250);
      if (Date.now() - started > 65_000 && fake.accepted.length < DRAIN) fire(worker); // the next minute's run
    }
    const seconds = (Date.now() - started) / 1000;
    const cpu = workerdCpuMs(group) - cpuBefore;
    console.log(
      `delivery, unthrottled fake: ${fake.accepted.length.toLocaleString("en-US")} of ${DRAIN.toLocaleString("en-US")} queued messages in ${seconds.toFixed(1)} s = ${(fake.accepted.length / seconds).toFixed(0)} emails/s`,
    );
    console.log(
      `  CPU time of workerd (render, D1, events into the flows) ≈ ${(cpu / Math.max(1, fake.accepted.length)).toFixed(2)} ms per message`,
    );
    return fake.accepted.length === DRAIN;
  } finally {
    worker.stop();
    await fake.stop();
  }
}

const ok = (await throttledRun()) & (await unthrottledRun());
process.exit(ok ? 0 : 1);

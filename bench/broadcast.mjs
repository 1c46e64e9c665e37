#!/usr/bin/env node
// One broadcast to every subscribed contact (100,000 by default; `--contacts N`)
// against a fake Resend on loopback held to its default limits (2 requests/s ×
// 100 emails, 429 beyond), driven by the every-minute cron as in production.
// (a) Queueing: seconds from `send` to the whole audience queued (the time the
//     dev server is down for the restart below is left out), and its rate as a
//     multiple of the provider's 200 emails/s (goal ≥ 5: queueing is never the
//     bottleneck). The worker is killed and restarted once in the middle of queueing.
// (b) Delivery: emails/s sustained over a window while the broadcast drains
//     through the throttled fake (goal ≥ 0.95 × 200/s, zero 429 answers).
// (c) Exactly once: the rest is drained unthrottled (a second restart raises
//     SEND_RATE_PER_SECOND), then every contact must have received exactly one
//     email at the provider: duplicates 0, missing 0.
// Loopback only, a hard time limit; everything stops by itself.
import { BATCH_LIMIT, LIMIT_PER_SECOND, startFakeResend } from "./lib/fake-resend.mjs";
import { startLocalWorker } from "./lib/local-worker.mjs";

const args = process.argv.slice(2);
const at = args.indexOf("--contacts");
const CONTACTS = at === -1 ? 100_000 : Number(args[at + 1]);
if (!Number.isInteger(CONTACTS) || CONTACTS < 1_000) {
  console.error("usage: node bench/broadcast.mjs [--contacts N]   (N ≥ 1,000; default 100,000)");
  process.exit(2);
}
const ALLOWED = LIMIT_PER_SECOND * BATCH_LIMIT;
const QUEUE_GOAL = 5;
const DELIVERY_GOAL = 0.95;
// The window must end before the queue runs dry at the allowed rate (it is shorter for small runs).
const WINDOW_MS = Math.max(5_000, Math.min(30_000, Math.floor((CONTACTS / ALLOWED) * 0.4) * 1000));
/** How far into the first run the worker is restarted (a run queues 500 contacts a page, up to 100 pages). */
const RESTART_AFTER_MS = 1_500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The template and the contacts, written straight into D1 while the dev server is stopped. */
function seedSql(count) {
  const now = Date.now();
  return `INSERT INTO templates (id, subject, html, created_at, updated_at) VALUES ('bench-sale', 'Our sale, {{ contact.first_name }}',
  '<html><body><p>Hi {{ contact.first_name }}, everything is 20% off.</p><a href="https://shop.test/sale">Sale</a></body></html>', 0, 0);
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${count - 1})
INSERT INTO contacts (id, email, first_name, consent, attributes, tags, created_at, updated_at)
SELECT printf('c%07d', i), printf('c%07d@bench.test', i), 'Reader' || i, 'subscribed', '{}', '[]', ${now}, ${now} FROM n;`;
}

const fake = await startFakeResend({ throttled: true });
const worker = await startLocalWorker({
  name: "broadcast",
  limitMs: 14 * 60_000,
  vars: { RESEND_API_KEY: "re_bench", RESEND_BASE_URL: fake.url, SEND_RATE_PER_SECOND: String(LIMIT_PER_SECOND) },
});
const fire = () => fetch(`${worker.url}/__scheduled?cron=${encodeURIComponent("* * * * *")}`).catch(() => {});
/** The broadcast as the API shows it; a poll that gets no answer in 10 s (the dev server was killed under it) is asked again. */
async function broadcast() {
  for (;;) {
    try {
      const res = await fetch(`${worker.url}/v1/broadcasts/bench`, {
        headers: { authorization: `Bearer ${worker.adminKey}` },
        signal: AbortSignal.timeout(10_000),
      });
      if (res.ok) return await res.json();
    } catch {}
    await sleep(500);
  }
}

let ok = true;
try {
  await worker.restart(() => worker.executeSql(seedSql(CONTACTS)));
  await worker.api("/v1/broadcasts/bench", {
    method: "PUT",
    body: { name: "Bench sale", template: "bench-sale", audience: { all: true } },
  });

  // (a) Queueing, with one restart while it is under way.
  const sent = await worker.api("/v1/broadcasts/bench/send", { method: "POST" });
  if (sent.audience !== CONTACTS) throw new Error(`the audience is ${sent.audience}, expected ${CONTACTS}`);
  fire();
  // Restarted on a timer, not on what a poll saw: under load the dev server may answer no poll until the fan-out is done.
  await sleep(RESTART_AFTER_MS);
  const down = Date.now();
  // Killed, as a crash or an evicted isolate would be: a graceful stop lets the running fan-out finish first.
  await worker.restart(undefined, { signal: "SIGKILL" });
  const downtime = Date.now() - down;
  let state = await broadcast();
  const restartedAt = state.audience_complete ? CONTACTS : state.audience_fixed;
  fire();
  let last = { fixed: -1, changedAt: Date.now() };
  while (!state.audience_complete) {
    await sleep(250);
    state = await broadcast();
    if (state.audience_fixed !== last.fixed) last = { fixed: state.audience_fixed, changedAt: Date.now() };
    // A run queues a bounded number of pages; when it has stopped short of the end, the next minute's run goes on.
    else if (Date.now() - last.changedAt > 2_000) {
      fire();
      last.changedAt = Date.now();
    }
  }
  // Timed by the broadcast row itself (started_at to fanned_out_at): a poll may wait for the running cron to yield.
  const [{ fanned }] = worker.querySql("SELECT fanned_out_at AS fanned FROM broadcasts WHERE id = 'bench'");
  const queueSeconds = (fanned - Date.parse(sent.broadcast.started_at) - downtime) / 1000;
  const queueRate = CONTACTS / queueSeconds;
  const queueRatio = queueRate / ALLOWED;
  console.log(
    `broadcast to ${CONTACTS.toLocaleString("en-US")} contacts: queued in ${queueSeconds.toFixed(1)} s = ${queueRate.toFixed(0)} contacts/s (restart's ${(downtime / 1000).toFixed(1)} s downtime left out)`,
  );
  console.log(
    restartedAt === 0 || restartedAt >= CONTACTS
      ? `  restart mid-queueing: MISSED (${restartedAt} of ${CONTACTS} queued when it came)`
      : `  restarted once mid-queueing, with ${restartedAt.toLocaleString("en-US")} of ${CONTACTS.toLocaleString("en-US")} queued`,
  );
  const queuePass = queueRatio >= QUEUE_GOAL && restartedAt > 0 && restartedAt < CONTACTS;
  console.log(
    `  ratio to the provider's ${ALLOWED} emails/s = ${queueRatio.toFixed(1)}× (goal ≥ ${QUEUE_GOAL}×) ${queuePass ? "PASS" : "FAIL"}`,
  );
  ok &&= queuePass;

  // (b) Delivery through the throttled fake: the running cron keeps sending; a second run overlaps it, as the next minute's would.
  fire();
  await sleep(5_000);
  const from = Date.now();
  const before = fake.accepted.length;
  await sleep(WINDOW_MS);
  const inWindow = fake.accepted.filter((t) => t >= from && t < from + WINDOW_MS).length;
  const deliveryRate = inWindow / (WINDOW_MS / 1000);
  const { rejected429, overBatch } = fake.stats();
  const deliveryRatio = deliveryRate / ALLOWED;
  const deliveryPass = deliveryRatio >= DELIVERY_GOAL && rejected429 === 0 && overBatch === 0;
  console.log(
    `  delivery, provider limits ${LIMIT_PER_SECOND} requests/s × ${BATCH_LIMIT} emails: ${deliveryRate.toFixed(1)} emails/s over ${WINDOW_MS / 1000} s (${before.toLocaleString("en-US")} sent before the window)`,
  );
  console.log(
    `  ratio to the ${ALLOWED} emails/s allowed = ${deliveryRatio.toFixed(3)} (goal ≥ ${DELIVERY_GOAL}), 429 answers: ${rejected429}, oversize batches: ${overBatch} ${deliveryPass ? "PASS" : "FAIL"}`,
  );
  ok &&= deliveryPass;

  // (c) Drain the rest unthrottled, then count each contact's emails at the provider.
  fake.throttled = false;
  await worker.restart(undefined, { vars: { SEND_RATE_PER_SECOND: "1000" } });
  const drainStarted = Date.now();
  let lastFire = 0;
  while (Date.now() - drainStarted < 6 * 60_000) {
    if (Date.now() - lastFire > 15_000) {
      fire();
      lastFire = Date.now();
    }
    await sleep(1_000);
    if ((Date.now() - drainStarted) % 30_000 < 1_000)
      console.log(`  … draining: ${new Set(fake.recipients).size.toLocaleString("en-US")} of ${CONTACTS.toLocaleString("en-US")} reached`);
    if (new Set(fake.recipients).size >= CONTACTS && (await broadcast()).status === "sent") break;
  }
  const perAddress = new Map();
  for (const to of fake.recipients) perAddress.set(to, (perAddress.get(to) ?? 0) + 1);
  let duplicates = 0;
  for (const n of perAddress.values()) duplicates += n - 1;
  let missing = 0;
  for (let i = 0; i < CONTACTS; i++) if (!perAddress.has(`c${String(i).padStart(7, "0")}@bench.test`)) missing++;
  const stats = await worker.api("/v1/broadcasts/bench/stats");
  const final = await broadcast();
  const exactPass = duplicates === 0 && missing === 0 && stats.outcomes.total === CONTACTS && final.status === "sent";
  console.log(
    `  exactly once: ${perAddress.size.toLocaleString("en-US")} addresses reached, duplicates ${duplicates}, missing ${missing} (goal 0 and 0); outbox ${stats.outcomes.total.toLocaleString("en-US")} messages, ${stats.outcomes.sent.toLocaleString("en-US")} sent, status ${final.status} ${exactPass ? "PASS" : "FAIL"}`,
  );
  ok &&= exactPass;
} catch (error) {
  console.error(error);
  ok = false;
} finally {
  worker.stop();
  await fake.stop();
}
process.exit(ok ? 0 : 1);

#!/usr/bin/env node
// One broadcast to every subscribed contact (100,000 by default; `--contacts N`), the contacts imported through
// POST /v1/contacts/batch (1,000 a call) as a shop would, against a fake Resend on loopback held to its default
// limits (2 requests/s × 100 emails, 429 beyond), driven by the every-minute cron as in production.
// (a) Queueing: seconds from `send` to the whole audience queued (the time the
//     dev server is down for the restart below is left out), and its rate as a
//     multiple of the provider's 200 emails/s (goal ≥ 5: queueing is never the
//     bottleneck). The worker is killed and restarted once in the middle of queueing.
// (b) Delivery: emails/s sustained over a window while the broadcast drains
//     through the throttled fake (goal ≥ 0.95 × 200/s, zero 429 answers), with the
//     workerd CPU spent per email and as a share of one core (the Worker's isolate is
//     one thread: near 100% means its own CPU, not the provider's limit, sets the pace).
// (c) Exactly once: the rest is drained unthrottled (a second restart raises
//     SEND_RATE_PER_SECOND), crons fired until every message is in a final status; then
//     every contact must have received exactly one email at the provider (duplicates 0,
//     missing 0) and D1 must hold exactly one `sent` message per contact.
// Cron invocations and their D1 queries are counted by bench/lib/metered-worker.ts.
// Loopback only, a hard time limit; everything stops by itself.
import { contactBatches, percentile, postBatches } from "./lib/contact-batches.mjs";
import { BATCH_LIMIT, LIMIT_PER_SECOND, startFakeResend } from "./lib/fake-resend.mjs";
import { workerdCpuMs } from "./lib/load.mjs";
import { startLocalWorker } from "./lib/local-worker.mjs";

const args = process.argv.slice(2);
const at = args.indexOf("--contacts");
const CONTACTS = at === -1 ? 100_000 : Number(args[at + 1]);
if (!Number.isInteger(CONTACTS) || CONTACTS < 1_000 || CONTACTS % 1_000 !== 0) {
  console.error("usage: node bench/broadcast.mjs [--contacts N]   (N a multiple of 1,000; default 100,000)");
  process.exit(2);
}
const ALLOWED = LIMIT_PER_SECOND * BATCH_LIMIT;
const QUEUE_GOAL = 5;
const DELIVERY_GOAL = 0.95;
// The window must end before the queue runs dry at the allowed rate (it is shorter for small runs).
const WINDOW_MS = Math.max(5_000, Math.min(30_000, Math.floor((CONTACTS / ALLOWED) * 0.4) * 1000));
/** How far into the first run the worker is restarted (a run queues 500 contacts a page, up to 100 pages). */
const RESTART_AFTER_MS = 1_500;
/** The unthrottled drain's bound: 100,000 at the ~200 emails/s a loaded machine manages, with room. */
const DRAIN_LIMIT_MS = 10 * 60_000;
const DELIVERY_CRON = "* * * * *";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const address = (i) => `reader${i}@example.com`;

const fake = await startFakeResend({ throttled: true });
const worker = await startLocalWorker({
  name: "broadcast",
  limitMs: 14.5 * 60_000,
  vars: { RESEND_API_KEY: "re_bench", RESEND_BASE_URL: fake.url, SEND_RATE_PER_SECOND: String(LIMIT_PER_SECOND) },
  metered: true,
});
let cronsFired = 0;
const fire = () => {
  cronsFired++;
  return fetch(`${worker.url}/__scheduled?cron=${encodeURIComponent(DELIVERY_CRON)}`).catch(() => {});
};
/** Cron runs that ended, and their D1 queries, summed over the dev server's lives (a restart starts a new tally). */
const ended = { invocations: 0, d1Queries: 0 };
async function keepCronTally() {
  const cron = (await worker.tally()).crons[DELIVERY_CRON] ?? { invocations: 0, d1Queries: 0 };
  ended.invocations += cron.invocations;
  ended.d1Queries += cron.d1Queries;
}
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
  await worker.api("/v1/templates/bench-sale", {
    method: "PUT",
    body: {
      subject: "Our sale, {{ contact.first_name }}",
      html: '<html><body><p>Hi {{ contact.first_name }}, everything is 20% off.</p><a href="https://shop.test/sale">Sale</a></body></html>',
    },
  });
  const imported = await postBatches(worker, contactBatches({ prefix: "reader", to: CONTACTS, format: "csv", consent: "subscribed" }));
  if (imported.counts.created !== CONTACTS) throw new Error(`imported ${JSON.stringify(imported.counts)}, expected ${CONTACTS} created`);
  console.log(
    `${CONTACTS.toLocaleString("en-US")} subscribed contacts imported through POST /v1/contacts/batch in ${imported.seconds.toFixed(1)} s`,
  );
  await worker.api("/v1/broadcasts/bench", {
    method: "PUT",
    body: { name: "Bench sale", template: "bench-sale", audience: { all: true } },
  });

  // (a) Queueing, with one restart while it is under way.
  const sentAt = Date.now();
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
  // Asked without blocking: the fake provider is served from this process, and the sending goes on meanwhile.
  const [{ fanned }] = await worker.querySqlAsync("SELECT fanned_out_at AS fanned FROM broadcasts WHERE id = 'bench'");
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
  const cpuBefore = workerdCpuMs(worker.processGroup());
  const d1Before = await worker.tally();
  await sleep(WINDOW_MS);
  const windowCpuMs = workerdCpuMs(worker.processGroup()) - cpuBefore;
  const d1After = await worker.tally();
  const inWindow = fake.accepted.filter((t) => t >= from && t < from + WINDOW_MS).length;
  const deliveryRate = inWindow / (WINDOW_MS / 1000);
  const { rejected429, overBatch } = fake.stats();
  const deliveryRatio = deliveryRate / ALLOWED;
  const deliveryPass = deliveryRatio >= DELIVERY_GOAL && rejected429 === 0 && overBatch === 0;
  console.log(
    `  delivery, provider limits ${LIMIT_PER_SECOND} requests/s × ${BATCH_LIMIT} emails: ${deliveryRate.toFixed(1)} emails/s over ${WINDOW_MS / 1000} s (${before.toLocaleString("en-US")} sent before the window)`,
  );
  console.log(
    `  ratio to the ${ALLOWED} emails/s allowed = ${deliveryRatio.toFixed(3)} (goal ≥ ${DELIVERY_GOAL}), 429 answers: ${rejected429} (${fake.refused.filter((t) => t >= from && t < from + WINDOW_MS).length} in the window), oversize batches: ${overBatch} ${deliveryPass ? "PASS" : "FAIL"}`,
  );
  console.log(
    `  in the window: workerd CPU ${(windowCpuMs / Math.max(1, inWindow)).toFixed(2)} ms per email, ${((windowCpuMs / WINDOW_MS) * 100).toFixed(0)}% of one core; D1 ${((d1After.d1Queries - d1Before.d1Queries) / Math.max(1, inWindow)).toFixed(2)} queries per email, busy ${(((d1After.d1Ms - d1Before.d1Ms) / WINDOW_MS) * 100).toFixed(0)}% of the time`,
  );
  // The gaps between the provider's requests show where the time went: the gate has LIMIT_PER_SECOND slots, each
  // held 1000 + 30 ms from its request's start (SEND_MARGIN_MS in src/delivery/send-gate.ts); the closest any two
  // requests LIMIT_PER_SECOND apart came shows how much of the margin was left (under 1000 ms would be a 429).
  const slotMs = Math.ceil((1000 + 30) / LIMIT_PER_SECOND);
  const windowRequests = fake.requests.filter((t) => t >= from && t < from + WINDOW_MS);
  const gaps = windowRequests.slice(1).map((t, i) => t - windowRequests[i]);
  const spans = windowRequests.slice(LIMIT_PER_SECOND).map((t, i) => t - windowRequests[i]);
  console.log(
    `  ${windowRequests.length} requests of the ${Math.floor(WINDOW_MS / slotMs)} the gate allows in the window; gaps between them: median ${percentile(gaps, 50)} ms, p90 ${percentile(gaps, 90)} ms, max ${Math.max(0, ...gaps)} ms; ${LIMIT_PER_SECOND} requests apart: at least ${Math.min(...spans)} ms`,
  );
  // Where each 429 fell (against the send and the restart), and how long before it the two requests it followed came.
  for (const t of fake.refused) {
    const earlier = fake.requests.filter((r) => r <= t).slice(-LIMIT_PER_SECOND);
    console.log(
      `  429 at +${t - sentAt} ms after send (restart from +${down - sentAt} ms to +${down + downtime - sentAt} ms); the ${LIMIT_PER_SECOND} requests before it ${earlier.map((r) => `${r - t} ms`).join(", ")}`,
    );
  }
  ok &&= deliveryPass;

  // (c) Drain the rest unthrottled, then count each contact's emails at the provider.
  fake.throttled = false;
  await keepCronTally();
  await worker.restart(undefined, { vars: { SEND_RATE_PER_SECOND: "1000" } });
  const drainStarted = Date.now();
  const drainCpuBefore = workerdCpuMs(worker.processGroup());
  const drainSentBefore = fake.accepted.length;
  let lastFire = 0;
  while (Date.now() - drainStarted < DRAIN_LIMIT_MS) {
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
  for (let i = 0; i < CONTACTS; i++) if (!perAddress.has(address(i))) missing++;
  const drainSeconds = (Date.now() - drainStarted) / 1000;
  const drainCpuMs = workerdCpuMs(worker.processGroup()) - drainCpuBefore;
  const drained = fake.accepted.length - drainSentBefore;
  const final = await broadcast();
  const drainTally = await worker.tally();
  await keepCronTally();
  console.log(
    `  drain, unthrottled: ${drained.toLocaleString("en-US")} emails in ${drainSeconds.toFixed(0)} s = ${(drained / drainSeconds).toFixed(0)} emails/s; workerd CPU ${(drainCpuMs / Math.max(1, drained)).toFixed(2)} ms per email, ${((drainCpuMs / (drainSeconds * 1000)) * 100).toFixed(0)}% of one core; D1 busy ${((drainTally.d1Ms / (drainSeconds * 1000)) * 100).toFixed(0)}% of the time, ${(drainTally.d1Queries / Math.max(1, drained)).toFixed(2)} queries per email`,
  );
  console.log("  D1 time by statement while draining (the top 6):");
  for (const [text, { queries, ms }] of Object.entries(drainTally.bySql)
    .sort((a, b) => b[1].ms - a[1].ms)
    .slice(0, 6))
    console.log(
      `    ${((ms / Math.max(1, drainTally.d1Ms)) * 100).toFixed(0)}% ${queries.toLocaleString("en-US")}× ${(ms / queries).toFixed(2)} ms  ${text}`,
    );
  const [outbox] = worker.querySql(
    "SELECT count(*) AS messages, count(DISTINCT contact_id) AS contacts, sum(status = 'sent') AS sent FROM messages WHERE broadcast_id = 'bench'",
  );
  const exactPass =
    duplicates === 0 &&
    missing === 0 &&
    outbox.messages === CONTACTS &&
    outbox.contacts === CONTACTS &&
    outbox.sent === CONTACTS &&
    final.status === "sent";
  console.log(
    `  cron: ${cronsFired} invocations fired, ${ended.invocations} ended in the dev server's tallies with ${(ended.d1Queries / Math.max(1, ended.invocations)).toFixed(0)} D1 queries each on average`,
  );
  console.log(
    `  exactly once: ${perAddress.size.toLocaleString("en-US")} addresses reached, duplicates ${duplicates}, missing ${missing} (goal 0 and 0); D1: ${outbox.messages.toLocaleString("en-US")} messages for ${outbox.contacts.toLocaleString("en-US")} contacts, ${outbox.sent.toLocaleString("en-US")} sent, status ${final.status} ${exactPass ? "PASS" : "FAIL"}`,
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

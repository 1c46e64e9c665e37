#!/usr/bin/env node
// Event handling against the number of active flows. Posts events (POST
// /v1/events, batches of 100) end to end into the ContactTimers of a fixed pool
// of contacts, alternating 1 active flow and 200 active flows whose triggers do
// not match; the ratio of events/s (200 flows / 1 flow) must be ≥ 0.8, because
// an event finds the flows it can start through an index, not a scan. The pool
// is created first so that runs compare flows, not the cost of new objects.
// Then every event of new contacts starts a 50/50 split flow and queues an
// email: events/s end to end, and each path's share. Loopback, fixed counts,
// a hard time limit.
import { startLocalWorker } from "./lib/local-worker.mjs";

const CONTACTS = Number(process.env.BENCH_FLOW_CONTACTS ?? 300);
const ENROLLING = Number(process.env.BENCH_FLOW_ENROLLING ?? 1000);
const ROUNDS = 2;
const BATCH = 100;
const GOAL = 0.8;

const worker = await startLocalWorker({ name: "flows", limitMs: 9 * 60_000 });
let run = 0;

async function postEvents(name, emails) {
  run++;
  const started = performance.now();
  for (let i = 0; i < emails.length; i += BATCH) {
    const batch = emails
      .slice(i, i + BATCH)
      .map((email, j) => ({ id: `bench-${run}-${i + j}`, email, name, properties: { sku: `sku-${j}` } }));
    await worker.api("/v1/events", { method: "POST", body: batch });
  }
  return emails.length / ((performance.now() - started) / 1000);
}

async function saveFlow(id, trigger, steps) {
  await worker.api(`/v1/flows/${id}`, { method: "PUT", body: { name: id, trigger, steps, reentry: "after_exit" } });
}
/** Activates or pauses flows, a few at a time (200 at once made the local runtime restart). */
async function setStatus(ids, status) {
  for (let i = 0; i < ids.length; i += 8) {
    await Promise.all(ids.slice(i, i + 8).map((id) => worker.api(`/v1/flows/${id}/${status}`, { method: "POST" })));
  }
}
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

try {
  const idle = [{ id: "w", type: "wait", for: "1d" }];
  const extra = Array.from({ length: 199 }, (_, i) => `other-${i + 1}`);
  for (const id of ["other-0", ...extra]) await saveFlow(id, { event: `${id}_event` }, idle);
  await setStatus(["other-0"], "activate");
  const pool = Array.from({ length: CONTACTS }, (_, i) => `pool${i}@example.com`);
  await postEvents("warm_up", pool);

  const one = [];
  const many = [];
  for (let round = 0; round < ROUNDS; round++) {
    one.push(await postEvents("product_viewed", pool));
    await setStatus(extra, "activate");
    many.push(await postEvents("product_viewed", pool));
    await setStatus(extra, "pause");
  }

  worker.executeSql(
    "INSERT INTO templates (id, subject, html, created_at, updated_at) VALUES ('a', 'A', '<p>A</p>', 0, 0), ('b', 'B', '<p>B</p>', 0, 0);",
  );
  await saveFlow("split", { event: "signed_up" }, [
    {
      id: "s",
      type: "split",
      paths: [
        { weight: 50, next: "a" },
        { weight: 50, next: "b" },
      ],
    },
    { id: "a", type: "email", template: "a", next: "end" },
    { id: "b", type: "email", template: "b" },
    { id: "end", type: "exit" },
  ]);
  await setStatus(["split"], "activate");
  const enrolling = await postEvents(
    "signed_up",
    Array.from({ length: ENROLLING }, (_, i) => `new${i}@example.com`),
  );
  const paths = worker.querySql("SELECT template_id AS path, count(*) AS n FROM messages WHERE flow_id = 'split' GROUP BY template_id");
  const share = (path) => (paths.find((p) => p.path === path)?.n ?? 0) / ENROLLING;

  const ratio = mean(many) / mean(one);
  console.log(`flows: POST /v1/events in batches of ${BATCH}, end to end into the ContactTimers of ${CONTACTS} contacts`);
  console.log(
    `  1 non-matching active flow     ${mean(one).toFixed(0).padStart(6)} events/s  (runs: ${one.map((x) => x.toFixed(0)).join(", ")})`,
  );
  console.log(
    `  200 non-matching active flows  ${mean(many).toFixed(0).padStart(6)} events/s  (runs: ${many.map((x) => x.toFixed(0)).join(", ")})`,
  );
  console.log(`  ${ENROLLING} new contacts, each enrolled in a split flow and queued an email: ${enrolling.toFixed(0)} events/s`);
  console.log(`  split shares over those contacts: a ${(share("a") * 100).toFixed(1)}%, b ${(share("b") * 100).toFixed(1)}%`);
  console.log(`  ratio 200 flows / 1 flow = ${ratio.toFixed(2)} (goal ≥ ${GOAL}) ${ratio >= GOAL ? "PASS" : "FAIL"}`);
  process.exitCode = ratio >= GOAL ? 0 : 1;
} finally {
  worker.stop();
}

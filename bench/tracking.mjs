#!/usr/bin/env node
// Tracking endpoints against a bare route of the same Worker, driven by wrk:
// requests/s and p50/p99 latency of GET /o/:token (pixel) and GET /c/:token
// (redirect) next to GET /healthz (a static answer through the same
// middleware, no storage), at 1 and at 32 connections, 4 s each. Goals: pixel
// and click ≥ 0.8 × the bare route's rate, and ≤ 1 ms of workerd CPU per
// tracked request. The recording counts: after each tracked run the bench waits
// until every open or click served is in D1 before it reads the CPU time of the
// workerd processes (/proc/<pid>/stat), and divides by the requests served.
// Also prints the snippet's gzipped size (goal ≤ 2 KB). Loopback, fixed
// durations, a hard time limit.
import { createHmac, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { ensureWrk, runWrk, workerdCpuMs } from "./lib/load.mjs";
import { startLocalWorker } from "./lib/local-worker.mjs";

const RATE_GOAL = 0.8;
const CPU_GOAL_MS = 1;
const SNIPPET_GOAL = 2048;
const SECONDS = Number(process.env.BENCH_TRACKING_SECONDS ?? 4);
/** Distinct sent messages the load cycles through, as a campaign's opens do. */
const MESSAGES = 1000;
/** How long the recording of one run may take to reach D1 before the run counts as failed. */
const RECORDING_WAIT_MS = 60_000;
const HUMAN = { "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36" };
const secret = randomBytes(24).toString("base64url");

/** Signs a token exactly as src/tracking/tokens.ts does. */
function token(kind, fields) {
  const payload = [kind, ...fields].join("|");
  const mac = createHmac("sha256", secret).update(`nurture-token:${payload}`).digest().subarray(0, 16);
  return `${Buffer.from(payload).toString("base64url")}.${mac.toString("base64url")}`;
}

/** Contacts and messages sent an hour ago, each with one link (SQL, while the dev server is stopped). */
function seedSql(now) {
  return `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${MESSAGES - 1})
INSERT INTO contacts (id, email, consent, attributes, tags, created_at, updated_at)
SELECT 'c' || i, 'reader' || i || '@bench.test', 'subscribed', '{}', '[]', ${now}, ${now} FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${MESSAGES - 1})
INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, template_id, context, status, due_at, created_at, sent_at)
SELECT 'm' || i, 'c' || i, 'reader' || i || '@bench.test', 'marketing', 'news', 'mail', 'news', '{}', 'sent',
  ${now - 7_200_000}, ${now - 7_200_000}, ${now - 3_600_000} FROM n;
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ${MESSAGES - 1})
INSERT INTO links (message_id, idx, url) SELECT 'm' || i, 0, 'https://shop.test/sale' FROM n;`;
}

const ids = Array.from({ length: MESSAGES }, (_, i) => i);
const routes = {
  bare: { paths: ["/healthz"], event: null },
  open: { paths: ids.map((i) => `/o/${token("o", [`m${i}`])}`), event: "email_opened" },
  click: {
    paths: ids.map((i) => `/c/${token("c", [`m${i}`, 0, `c${i}`, "news", "mail", "https://shop.test/sale"])}`),
    event: "email_clicked",
  },
};

ensureWrk();
const worker = await startLocalWorker({ name: "tracking", limitMs: 8 * 60_000, vars: { SIGNING_SECRET: secret } });
const recorded = (event) => worker.querySql(`SELECT count(*) AS n FROM events WHERE name = '${event}'`)[0].n;

/** One wrk run on a route; for a tracked route, waits until everything it served is recorded, so the CPU includes it. */
async function measure(route, connections) {
  const { paths, event } = routes[route];
  // The bare route is counted with the same D1 read after its run, so every window has the same idle tail.
  const counted = event ?? "email_opened";
  const before = recorded(counted);
  const group = worker.processGroup();
  const cpuBefore = workerdCpuMs(group);
  const load = await runWrk({ origin: worker.url, paths, connections, seconds: SECONDS, headers: HUMAN });
  const deadline = Date.now() + RECORDING_WAIT_MS;
  let served = load.requests;
  let complete = true;
  for (;;) {
    const stored = recorded(counted) - before;
    if (!event) break;
    served = stored;
    if (served >= load.requests) break;
    if (Date.now() > deadline) {
      complete = false;
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const cpuMs = (workerdCpuMs(group) - cpuBefore) / Math.max(1, served);
  return { ...load, served, complete, cpuMs };
}

let ok = true;
try {
  await worker.restart(() => worker.executeSql(seedSql(Date.now())));
  for (const route of Object.keys(routes)) await runWrk({ origin: worker.url, paths: routes[route].paths, connections: 4, seconds: 1 }); // warm up
  await new Promise((r) => setTimeout(r, 4000)); // the warm-up's last queue batch (2 s window) is recorded before the first measured run
  console.log(`tracking: wrk, ${SECONDS} s per run, ${MESSAGES} distinct messages; CPU = workerd user+system time / requests served`);
  for (const connections of [1, 32]) {
    const results = {};
    for (const route of Object.keys(routes)) results[route] = await measure(route, connections);
    for (const [route, r] of Object.entries(results)) {
      const figures = `${r.rps.toFixed(0).padStart(5)} req/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, CPU ${r.cpuMs.toFixed(2)} ms/request`;
      const faults = r.errors + r.badStatus > 0 ? `, ${r.errors} socket errors, ${r.badStatus} non-2xx/3xx` : "";
      if (route === "bare") {
        console.log(`  ${connections} connection(s), ${route.padEnd(5)}: ${figures}${faults} — baseline`);
        continue;
      }
      const ratio = r.rps / results.bare.rps;
      const pass = ratio >= RATE_GOAL && r.cpuMs <= CPU_GOAL_MS && r.complete && r.errors + r.badStatus === 0;
      if (!pass) ok = false;
      console.log(
        `  ${connections} connection(s), ${route.padEnd(5)}: ${figures}${faults} — ratio ${ratio.toFixed(2)} (goal ≥ ${RATE_GOAL}), CPU goal ≤ ${CPU_GOAL_MS} ms, ${r.complete ? `${r.served} of ${r.requests} served recorded` : `only ${r.served} of ${r.requests} served recorded`} ${pass ? "PASS" : "FAIL"}`,
      );
    }
  }
  const snippet = await (await fetch(`${worker.url}/s.js`)).text();
  const gzipped = gzipSync(snippet, { level: 9 }).length;
  console.log(
    `snippet /s.js: ${snippet.length} bytes, ${gzipped} bytes gzipped (goal ≤ ${SNIPPET_GOAL}) ${gzipped <= SNIPPET_GOAL ? "PASS" : "FAIL"}`,
  );
  if (gzipped > SNIPPET_GOAL) ok = false;
} catch (error) {
  console.error(error);
  ok = false;
} finally {
  worker.stop();
}
process.exit(ok ? 0 : 1);

#!/usr/bin/env node
// Tracking endpoints against a bare route of the same Worker: requests/s and
// p50/p99 latency of GET /o/:token (pixel) and GET /c/:token (redirect) next to
// GET /healthz (a static answer through the same middleware, no storage), at 1
// and at 32 concurrent connections; the goal is ≥ 0.8 × the bare route's rate.
// Also prints the snippet's gzipped size (goal ≤ 2 KB). Loopback, fixed
// request counts, a hard time limit.
import { createHmac, randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { startLocalWorker } from "./lib/local-worker.mjs";

const GOAL = 0.8;
const SNIPPET_GOAL = 2048;
const REQUESTS = { 1: 600, 32: 3000 };
const secret = randomBytes(24).toString("base64url");

/** Signs a token exactly as src/tracking/tokens.ts does. */
function token(kind, fields) {
  const payload = [kind, ...fields].join("|");
  const mac = createHmac("sha256", secret).update(`nurture-token:${payload}`).digest().subarray(0, 16);
  return `${Buffer.from(payload).toString("base64url")}.${mac.toString("base64url")}`;
}

async function load(url, concurrency, total) {
  const latencies = [];
  let next = 0;
  const started = performance.now();
  async function worker() {
    while (next < total) {
      next++;
      const t0 = performance.now();
      const res = await fetch(url, {
        redirect: "manual",
        headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0 Safari/537.36" },
      });
      await res.arrayBuffer();
      if (res.status >= 400) throw new Error(`${url} answered ${res.status}`);
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))];
  return { rps: total / seconds, p50: at(0.5), p99: at(0.99) };
}

const worker = await startLocalWorker({ name: "tracking", limitMs: 6 * 60_000, vars: { SIGNING_SECRET: secret } });
let ok = true;
try {
  const now = Date.now();
  await worker.restart(() =>
    worker.executeSql(`INSERT INTO contacts (id, email, consent, attributes, tags, created_at, updated_at) VALUES ('c1', 'reader@bench.test', 'subscribed', '{}', '[]', ${now}, ${now});
INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, template_id, context, status, due_at, created_at, sent_at)
VALUES ('m1', 'c1', 'reader@bench.test', 'marketing', 'news', 'mail', 'news', '{}', 'sent', ${now - 7_200_000}, ${now - 7_200_000}, ${now - 3_600_000});
INSERT INTO links (message_id, idx, url) VALUES ('m1', 0, 'https://shop.test/sale');`),
  );
  const targets = {
    bare: `${worker.url}/healthz`,
    open: `${worker.url}/o/${token("o", ["m1"])}`,
    click: `${worker.url}/c/${token("c", ["m1", 0, "c1", "news", "mail", "https://shop.test/sale"])}`,
  };
  for (const url of Object.values(targets)) await load(url, 4, 40); // warm up
  for (const concurrency of [1, 32]) {
    const results = {};
    for (const [name, url] of Object.entries(targets)) results[name] = await load(url, concurrency, REQUESTS[concurrency]);
    for (const [name, r] of Object.entries(results)) {
      const ratio = r.rps / results.bare.rps;
      const verdict = name === "bare" ? "baseline" : `ratio ${ratio.toFixed(2)} (goal ≥ ${GOAL}) ${ratio >= GOAL ? "PASS" : "FAIL"}`;
      if (name !== "bare" && ratio < GOAL) ok = false;
      console.log(
        `tracking, ${concurrency} connection(s), ${name.padEnd(5)}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms — ${verdict}`,
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

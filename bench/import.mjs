#!/usr/bin/env node
// Imports generated contacts through POST /v1/contacts/batch as the dashboard does (CSV, 1,000 per call, a few calls
// in flight) against a throwaway `wrangler dev`, and compares the rate with a bare INSERT of the same rows into the
// same local D1 (goal ≥ 0.5). Samples workerd's resident memory during the import (it should stay flat), then
// streams GET /v1/contacts/export and prints its rate. BENCH_IMPORT_CONTACTS sets the count (default 100,000).
import { readdirSync, readFileSync } from "node:fs";
import { startLocalWorker } from "./lib/local-worker.mjs";

const TOTAL = Number(process.env.BENCH_IMPORT_CONTACTS ?? 100_000);
const PER_CALL = 1000;
const IN_FLIGHT = 4;
const HEADER = "email,first_name,last_name,timezone,tags,plan,city\n";

const row = (prefix, i) =>
  `${prefix}${i}@example.com,First${i},Last${i},Europe/Berlin,imported;bench,${i % 3 === 0 ? "pro" : "free"},City${i % 50}\n`;

/** Resident memory (MiB) of the workerd processes in the dev server's process group. */
function workerdRssMiB(group) {
  let kib = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== group || !stat.includes("(workerd)")) continue;
      kib += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0);
    } catch {}
  }
  return kib / 1024;
}

const worker = await startLocalWorker({ name: "import", limitMs: 9 * 60_000 });
let ok = true;
try {
  // Baseline: the same rows (other addresses) inserted bare into the same D1, minus the cost of starting wrangler.
  let bareSeconds = 0;
  await worker.restart(() => {
    const empty = Date.now();
    worker.executeSql("SELECT 1;");
    const overhead = Date.now() - empty;
    const values = [];
    for (let i = 0; i < TOTAL; i++) {
      values.push(
        `('c_bare${i}','bare${i}@example.com','First${i}','Last${i}','Europe/Berlin','none',0,'{"plan":"${i % 3 === 0 ? "pro" : "free"}","city":"City${i % 50}"}','["imported","bench"]',0,0)`,
      );
    }
    let sqlText = "";
    for (let i = 0; i < values.length; i += 500) {
      sqlText += `INSERT INTO contacts (id,email,first_name,last_name,timezone,consent,consent_changed_at,attributes,tags,created_at,updated_at) VALUES ${values.slice(i, i + 500).join(",")};\n`;
    }
    const started = Date.now();
    worker.executeSql(sqlText);
    bareSeconds = Math.max(0.001, (Date.now() - started - overhead) / 1000);
  });

  const group = worker.processGroup();
  const memory = [];
  const sampler = setInterval(() => memory.push(workerdRssMiB(group)), 200);
  const started = Date.now();
  let next = 0;
  const counts = { created: 0, updated: 0, unchanged: 0, failed: 0 };
  async function lane() {
    while (next < TOTAL) {
      const from = next;
      next += PER_CALL;
      let csv = HEADER;
      for (let i = from; i < Math.min(from + PER_CALL, TOTAL); i++) csv += row("imp", i);
      const res = await fetch(`${worker.url}/v1/contacts/batch`, {
        method: "POST",
        headers: { authorization: `Bearer ${worker.adminKey}`, "content-type": "text/csv" },
        body: csv,
      });
      if (!res.ok) throw new Error(`batch → ${res.status} ${await res.text()}`);
      const body = await res.json();
      for (const key of Object.keys(counts)) counts[key] += body[key];
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, lane));
  const importSeconds = (Date.now() - started) / 1000;
  clearInterval(sampler);
  const rate = TOTAL / importSeconds;
  const bareRate = TOTAL / bareSeconds;
  const early = memory.slice(0, Math.max(1, Math.floor(memory.length / 10)));
  console.log(
    `import: ${TOTAL.toLocaleString("en-US")} contacts in ${importSeconds.toFixed(1)} s = ${rate.toFixed(0)} contacts/s (created ${counts.created}, failed ${counts.failed})`,
  );
  console.log(`  bare INSERT into the same D1: ${bareRate.toFixed(0)} rows/s; ratio ${(rate / bareRate).toFixed(2)} (goal ≥ 0.5)`);
  console.log(
    `  workerd memory: ${Math.max(...early).toFixed(0)} MiB peak in the first tenth, ${Math.max(...memory).toFixed(0)} MiB peak overall`,
  );
  ok = counts.created === TOTAL && counts.failed === 0;

  const exportMemory = [];
  const exportSampler = setInterval(() => exportMemory.push(workerdRssMiB(group)), 200);
  const exportStarted = Date.now();
  const res = await fetch(`${worker.url}/v1/contacts/export`, { headers: { authorization: `Bearer ${worker.adminKey}` } });
  let lines = 0;
  const decoder = new TextDecoder();
  for await (const chunk of res.body) lines += (decoder.decode(chunk, { stream: true }).match(/\n/g) ?? []).length;
  const exportSeconds = (Date.now() - exportStarted) / 1000;
  clearInterval(exportSampler);
  const exported = lines - 1;
  const exportEarly = exportMemory.slice(0, Math.max(1, Math.floor(exportMemory.length / 10)));
  console.log(
    `export: ${exported.toLocaleString("en-US")} contacts streamed in ${exportSeconds.toFixed(1)} s = ${(exported / exportSeconds).toFixed(0)} contacts/s; workerd memory ${Math.max(...exportEarly, 0).toFixed(0)} MiB peak in the first tenth, ${Math.max(...exportMemory, 0).toFixed(0)} MiB peak overall`,
  );
  ok &&= exported === TOTAL * 2;
} finally {
  worker.stop();
}
process.exit(ok ? 0 : 1);

#!/usr/bin/env node
// Imports generated contacts (100,000 by default; BENCH_IMPORT_CONTACTS sets it) through POST /v1/contacts/batch as
// the dashboard does (1,000 rows a call, 4 calls in flight) against a throwaway `wrangler dev`: the first half as
// CSV, the second as JSON. Prints rows/s, ms per batch, D1 queries per batch (counted by bench/lib/metered-worker.ts)
// and workerd CPU per batch for each, then imports the same bodies again, which must create and change nothing.
// Two baselines, both measured in this run:
// - transport: the same bodies, in the same number of calls with the same concurrency, posted to /healthz, which
//   answers 404 without reading them. It is what shipping 1,000 rows through the dev server costs before any
//   parsing or writing; the import's CPU and time above it are the route's own. (No route parses a batch without
//   writing it, and adding one for the bench would measure code that never runs in production.)
// - bare insert: the same rows (other addresses) as multi-row INSERTs straight into the same local D1 through
//   `wrangler d1 execute`, its start-up subtracted (issue 15's goal: the import ≥ 0.5 × that rate).
// Then D1 is asked how many contacts it holds (exactly the count imported), and GET /v1/contacts/export streams
// everything back.
// Memory (issue 15: flat, not growing with the list), sampled every 200 ms over the imports and over the export, split
// as bench/lib/worker-memory.mjs explains: the Worker isolate's used JS heap (V8's, read over the DevTools protocol),
// which is what "flat" is judged on: what stays alive after a full collection (forced by a heap snapshot) grows by less
// than FLAT_RETAINED_MIB over the run (100,000 rows kept would be several times that), and the peak of the used heap
// in the run's second half stays within FLAT_PEAK_RATIO × the first half's (a heap that grows with the file does not);
// and, printed beside it, the RSS of the workerd that runs the Worker together with local D1, of wrangler's proxy
// workerd, and of the workerd of the bare insert, which is local D1 writing the same rows without the Worker: D1's share.
// Loopback only, bounded in count and time (9 minutes at most), stops by itself.
import { contactBatches, percentile, postBatches, ROWS_PER_BATCH } from "./lib/contact-batches.mjs";
import { workerdCpuMs } from "./lib/load.mjs";
import { startLocalWorker } from "./lib/local-worker.mjs";
import { connectInspector, sampleGroupRss, sampleWorkerMemory } from "./lib/worker-memory.mjs";

const TOTAL = Number(process.env.BENCH_IMPORT_CONTACTS ?? 100_000);
if (!Number.isInteger(TOTAL) || TOTAL < 2 * ROWS_PER_BATCH || TOTAL % (2 * ROWS_PER_BATCH) !== 0) {
  console.error(`BENCH_IMPORT_CONTACTS must be a multiple of ${2 * ROWS_PER_BATCH}`);
  process.exit(2);
}
const IN_FLIGHT = 4;
const BARE_GOAL = 0.5;

const FLAT_RETAINED_MIB = 16;
const FLAT_PEAK_RATIO = 1.25;

/**
 * The Worker's JS heap over a run, sampled, and retained (after a full collection) before and after it, and whether it
 * is flat; the RSS of its workerd processes beside it.
 */
function describeMemory({ heap, runtime, proxy }, retainedBefore, retainedAfter) {
  const flat = retainedAfter - retainedBefore < FLAT_RETAINED_MIB && heap.secondHalfPeak <= FLAT_PEAK_RATIO * heap.firstHalfPeak;
  const mib = (n) => n.toFixed(0);
  return {
    flat,
    lines: [
      `    Worker isolate JS heap: retained after a full GC ${mib(retainedBefore)} MiB before, ${mib(retainedAfter)} MiB after (goal: < ${FLAT_RETAINED_MIB} MiB more); used, ${heap.samples} samples: peak ${mib(heap.firstHalfPeak)} MiB in the first half, ${mib(heap.secondHalfPeak)} in the second (goal ≤ ${FLAT_PEAK_RATIO}×), ${mib(heap.earlyPeak)} in the first tenth ${flat ? "FLAT PASS" : "GROWS FAIL"}`,
      `    workerd running the Worker and local D1: RSS ${mib(runtime.first)} MiB at the start, peak ${mib(runtime.peak)}, ${mib(runtime.last)} at the end`,
      `    wrangler's proxy workerd: RSS ${mib(proxy.first)} MiB at the start, peak ${mib(proxy.peak)}, ${mib(proxy.last)} at the end`,
    ],
  };
}

const worker = await startLocalWorker({ name: "import", limitMs: 9 * 60_000, metered: true });
let ok = true;
let inspector;
try {
  // Bare insert of the same rows into the same D1, minus the cost of starting wrangler.
  let bareSeconds = 0;
  let bareRss;
  await worker.restart(async () => {
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
    bareRss = await worker.executeSqlWatched(sqlText, sampleGroupRss);
    bareSeconds = Math.max(0.001, (Date.now() - started - overhead) / 1000);
  });
  const bareRate = TOTAL / bareSeconds;
  inspector = await connectInspector(worker.inspectorPort);

  const half = TOTAL / 2;
  const phases = [
    { label: "CSV", batches: contactBatches({ prefix: "imp", to: half, format: "csv" }) },
    { label: "JSON", batches: contactBatches({ prefix: "imp", from: half, to: TOTAL, format: "json" }) },
  ];
  const group = worker.processGroup();

  /** One pass over `batches` to `pathname`, with the workerd CPU and D1 queries it cost. */
  async function measured(batches, pathname, expectOk = true) {
    const cpuBefore = workerdCpuMs(group);
    const queriesBefore = (await worker.tally()).d1Queries;
    const run = await postBatches(worker, batches, { pathname, inFlight: IN_FLIGHT, expectOk });
    return {
      ...run,
      cpuPerBatch: (workerdCpuMs(group) - cpuBefore) / batches.length,
      queriesPerBatch: ((await worker.tally()).d1Queries - queriesBefore) / batches.length,
    };
  }
  const describe = (run, rows) =>
    `${(rows / run.seconds).toFixed(0)} rows/s; ms per batch p50 ${percentile(run.callMs, 50).toFixed(0)}, p99 ${percentile(run.callMs, 99).toFixed(0)}; ${run.queriesPerBatch.toFixed(1)} D1 queries and ${run.cpuPerBatch.toFixed(1)} ms workerd CPU per batch`;

  // The baselines first, so that the memory sampled is the import's alone.
  const transports = [];
  for (const phase of phases) transports.push(await measured(phase.batches, "/healthz", false));
  const retainedBeforeImport = await inspector.retainedHeapMiB();
  const memory = sampleWorkerMemory(group, inspector);
  const totals = { created: 0, failed: 0, seconds: 0 };
  for (const [i, phase] of phases.entries()) {
    const transport = transports[i];
    const run = await measured(phase.batches, "/v1/contacts/batch");
    const rows = phase.batches.length * ROWS_PER_BATCH;
    totals.created += run.counts.created;
    totals.failed += run.counts.failed;
    totals.seconds += run.seconds;
    console.log(`import ${phase.label}: ${rows.toLocaleString("en-US")} contacts in ${run.seconds.toFixed(1)} s = ${describe(run, rows)}`);
    console.log(`  (created ${run.counts.created}, updated ${run.counts.updated}, failed ${run.counts.failed})`);
    console.log(
      `  transport baseline, the same ${phase.batches.length} bodies to /healthz: ${describe(transport, rows)}; import ratio ${(transport.seconds / run.seconds).toFixed(2)} of its rate, ${(run.cpuPerBatch - transport.cpuPerBatch).toFixed(1)} ms CPU per batch above it`,
    );
  }
  const rate = TOTAL / totals.seconds;
  const bareRatio = rate / bareRate;
  const importPass = totals.created === TOTAL && totals.failed === 0 && bareRatio >= BARE_GOAL;
  console.log(
    `import: ${TOTAL.toLocaleString("en-US")} contacts in ${totals.seconds.toFixed(1)} s = ${rate.toFixed(0)} rows/s; bare INSERT into the same D1: ${bareRate.toFixed(0)} rows/s; ratio ${bareRatio.toFixed(2)} (goal ≥ ${BARE_GOAL}) ${importPass ? "PASS" : "FAIL"}`,
  );
  ok &&= importPass;

  // The same bodies again: an idempotent import creates and changes nothing.
  const again = { created: 0, updated: 0, unchanged: 0, failed: 0, seconds: 0 };
  for (const phase of phases) {
    const run = await measured(phase.batches, "/v1/contacts/batch");
    for (const key of ["created", "updated", "unchanged", "failed"]) again[key] += run.counts[key];
    again.seconds += run.seconds;
  }
  const importSamples = await memory();
  const retainedAfterImport = await inspector.retainedHeapMiB();
  const importMemory = describeMemory(importSamples, retainedBeforeImport, retainedAfterImport);
  const againPass = again.created === 0 && again.updated === 0 && again.unchanged === TOTAL;
  console.log(
    `  second pass, the same ${TOTAL.toLocaleString("en-US")} rows: created ${again.created}, updated ${again.updated}, unchanged ${again.unchanged} in ${again.seconds.toFixed(1)} s = ${(TOTAL / again.seconds).toFixed(0)} rows/s ${againPass ? "PASS" : "FAIL"}`,
  );
  ok &&= againPass;
  const [{ imported }] = worker.querySql("SELECT count(*) AS imported FROM contacts WHERE email LIKE 'imp%'");
  console.log(
    `  D1 holds ${imported.toLocaleString("en-US")} imported contacts (goal ${TOTAL.toLocaleString("en-US")}) ${imported === TOTAL ? "PASS" : "FAIL"}`,
  );
  ok &&= imported === TOTAL;
  console.log(`  memory over both passes of the import (${(2 * TOTAL).toLocaleString("en-US")} rows):`);
  for (const line of importMemory.lines) console.log(line);
  console.log(
    `    D1 alone, the bare insert of the same rows by \`wrangler d1 execute\`: its workerd RSS ${bareRss.first.toFixed(0)} MiB at the start, peak ${bareRss.peak.toFixed(0)}`,
  );
  ok &&= importMemory.flat;

  const exportMemory = sampleWorkerMemory(group, inspector);
  const exportStarted = Date.now();
  const res = await fetch(`${worker.url}/v1/contacts/export`, { headers: { authorization: `Bearer ${worker.adminKey}` } });
  let lines = 0;
  const decoder = new TextDecoder();
  for await (const chunk of res.body) lines += (decoder.decode(chunk, { stream: true }).match(/\n/g) ?? []).length;
  const exportSeconds = (Date.now() - exportStarted) / 1000;
  const exportMemoryUse = describeMemory(await exportMemory(), retainedAfterImport, await inspector.retainedHeapMiB());
  const exported = lines - 1;
  console.log(
    `export: ${exported.toLocaleString("en-US")} contacts streamed in ${exportSeconds.toFixed(1)} s = ${(exported / exportSeconds).toFixed(0)} contacts/s (goal ${(TOTAL * 2).toLocaleString("en-US")}) ${exported === TOTAL * 2 ? "PASS" : "FAIL"}; memory:`,
  );
  for (const line of exportMemoryUse.lines) console.log(line);
  ok &&= exported === TOTAL * 2 && exportMemoryUse.flat;
} catch (error) {
  console.error(error);
  ok = false;
} finally {
  inspector?.close();
  worker.stop();
}
process.exit(ok ? 0 : 1);

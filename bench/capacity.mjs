#!/usr/bin/env node
// `npm run capacity`: re-measures the figures of docs/capacity.md. It runs
// bench/capacity/measure.test.ts in workerd (the real Worker, metered around
// its bindings; then a database grown to 100,000 contacts and 1,000,000 events)
// and prints, from what it measured: bytes per row, billed units per operation,
// how big a shop fits D1's 500 MB and 10 GB, and what a month of email costs on
// Workers Paid at Cloudflare's published prices (PRICES below).
// Options: --contacts N (metered audience, default 200), --grow-contacts N, --grow-events N,
// --cpu-ms X (CPU per request and per email, from `npm run bench`; see docs/capacity.md),
// --from FILE (print the tables from a saved run's output instead of measuring again).
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const { values: options } = parseArgs({
  options: {
    contacts: { type: "string", default: "200" },
    "grow-contacts": { type: "string", default: "100000" },
    "grow-events": { type: "string", default: "1000000" },
    "cpu-ms": { type: "string", default: "3" },
    from: { type: "string" },
  },
});

/** Workers Paid, as published on developers.cloudflare.com (pricing pages of Workers, D1, Durable Objects, Queues), read 2026-12. */
const PRICES = {
  base: 5, // USD a month
  requests: { included: 10e6, perMillion: 0.3 },
  cpuMs: { included: 30e6, perMillion: 0.02 },
  d1RowsRead: { included: 25e9, perMillion: 0.001 },
  d1RowsWritten: { included: 50e6, perMillion: 1.0 },
  d1StorageGb: { included: 5, perGbMonth: 0.75 },
  doRequests: { included: 1e6, perMillion: 0.15 },
  doRowsRead: { included: 25e9, perMillion: 0.001 },
  doRowsWritten: { included: 50e6, perMillion: 1.0 },
  queueOps: { included: 1e6, perMillion: 0.4 },
};

/** The sending profile the sizes and costs assume (state it beside every figure). */
const PROFILE = {
  emailsPerContactMonth: 4,
  openRate: 0.4,
  clickRate: 0.05,
  pageViewsPerContactMonth: 5,
  retentionDays: 400,
  // Each email records email_sent and email_delivered; opens and clicks add one event each.
  eventsPerEmail: 2,
  // Cron invocations a month: every minute, hourly, daily.
  cronInvocations: 43_200 + 720 + 30,
  // Opens and clicks travel through the TRACKING queue when it exists: write, read, delete.
  queueOpsPerTrackedRequest: 3,
};

/** The measurement's output: a saved run's, or a fresh run of the measurement in workerd. */
function measurementOutput() {
  if (options.from) return readFileSync(options.from, "utf8");
  const vitest = path.join(root, "node_modules", "vitest", "vitest.mjs");
  const run = spawnSync(process.execPath, [vitest, "run", "--config", "bench/capacity/vitest.config.ts"], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 256 * 1024 * 1024,
    env: {
      ...process.env,
      CAPACITY_CONTACTS: options.contacts,
      CAPACITY_GROWN_CONTACTS: options["grow-contacts"],
      CAPACITY_GROWN_EVENTS: options["grow-events"],
    },
  });
  return `${run.stdout}\n${run.stderr}`;
}
const output = measurementOutput();
const line = output.split("\n").find((l) => l.includes("CAPACITY {"));
// The pool may complain while shutting a workerd holding a grown database down; what counts is the test's verdict.
if (!line || /\d+ failed/.test(output)) {
  process.stderr.write(output.slice(-8000));
  console.error("capacity measurement failed");
  process.exit(1);
}
const m = JSON.parse(line.slice(line.indexOf("{")));
const cpuMs = Number(options["cpu-ms"]);

const fmt = (n, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const table = (header, rows) =>
  [`| ${header.join(" | ")} |`, `|${header.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");

console.log(
  `## Measured (${fmt(m.contacts)} contacts metered; database grown to ${fmt(m.bytes.rows.contacts)} contacts, ${fmt(m.bytes.rows.events)} events, ${fmt(m.bytes.rows.messages)} messages: ${fmt(m.bytes.database / 1e6, 1)} MB)\n`,
);
console.log(
  table(
    ["row", "bytes in D1, with indexes"],
    [
      ["contact", fmt(m.bytes.contact)],
      ["event", fmt(m.bytes.event)],
      ["message (sent, body kept)", fmt(m.bytes.message)],
      ["of which the rendered body (deleted after 30 days)", fmt(m.bytes.messageBody)],
    ],
  ),
);
console.log("");
const ops = [
  ["contact imported (batch of up to 1,000)", m.perContactImported],
  ["flow email (event → timer → sent)", m.perFlowEmail],
  ["broadcast email (fan-out → sent)", m.perBroadcastEmail],
  ["open (human, first)", m.perOpen],
  ["click", m.perClick],
  ["snippet page view", m.perPageView],
];
console.log(
  table(
    ["per", "D1 queries", "D1 rows read", "D1 rows written", "D1 ms", "DO requests", "DO rows read", "DO rows written"],
    ops.map(([name, t]) => [
      name,
      fmt(t.d1Queries, 2),
      fmt(t.d1RowsRead, 1),
      fmt(t.d1RowsWritten, 1),
      fmt(t.d1Ms, 3),
      fmt(t.doRequests, 2),
      fmt(t.doRowsRead, 1),
      fmt(t.doRowsWritten, 1),
    ]),
  ),
);
// One D1 database runs one query at a time: its busy time per operation bounds the rate of each.
console.log(
  `\nOne database's single writer, at the measured D1 time: ${ops
    .filter(([, t]) => t.d1Ms > 0)
    .map(([name, t]) => `${name} ≤ ${fmt(1000 / t.d1Ms)}/s`)
    .join("; ")}.`,
);

// Storage at steady state for one contact under PROFILE, after `months` of sending.
const months = PROFILE.retentionDays / 30.4;
const emailsMonth = PROFILE.emailsPerContactMonth;
const eventsMonth = emailsMonth * (PROFILE.eventsPerEmail + PROFILE.openRate + PROFILE.clickRate) + PROFILE.pageViewsPerContactMonth;
const messageRow = m.bytes.message - m.bytes.messageBody;
const bytesPerContact = (monthsSending) =>
  m.bytes.contact +
  eventsMonth * Math.min(monthsSending, months) * m.bytes.event +
  emailsMonth * monthsSending * messageRow +
  emailsMonth * m.bytes.messageBody;
console.log(
  `\n## How many contacts fit (profile: ${emailsMonth} emails a contact a month, ${PROFILE.openRate * 100}% open, ${PROFILE.clickRate * 100}% click, ${PROFILE.pageViewsPerContactMonth} page views; ${fmt(eventsMonth, 1)} events a contact a month; RETENTION_DAYS ${PROFILE.retentionDays})\n`,
);
console.log(
  table(
    ["after", "bytes a contact", "fit 500 MB (Free)", "fit 10 GB (Paid)"],
    [1, 6, 12, 24].map((mo) => {
      const b = bytesPerContact(mo);
      return [`${mo} month${mo > 1 ? "s" : ""}`, fmt(b), fmt(500e6 / b), fmt(10e9 / b)];
    }),
  ),
);

// Cost of a month with `emails` sent under PROFILE (flow email figures; broadcasts cost less).
function monthCost(emails) {
  const contacts = emails / emailsMonth;
  const opens = emails * PROFILE.openRate;
  const clicks = emails * PROFILE.clickRate;
  const views = contacts * PROFILE.pageViewsPerContactMonth;
  const sum = (key) => emails * m.perFlowEmail[key] + opens * m.perOpen[key] + clicks * m.perClick[key] + views * m.perPageView[key];
  const requests = opens + clicks + views + PROFILE.cronInvocations;
  const usage = {
    requests,
    cpuMs: requests * cpuMs + emails * cpuMs,
    d1RowsRead: sum("d1RowsRead"),
    d1RowsWritten: sum("d1RowsWritten"),
    d1StorageGb: (contacts * bytesPerContact(12)) / 1e9,
    doRequests: sum("doRequests"),
    doRowsRead: sum("doRowsRead"),
    doRowsWritten: sum("doRowsWritten"),
    queueOps: (opens + clicks) * PROFILE.queueOpsPerTrackedRequest,
  };
  const lines = Object.entries(usage).map(([key, amount]) => {
    const price = PRICES[key];
    const over = Math.max(0, amount - price.included);
    const cost = key === "d1StorageGb" ? over * price.perGbMonth : (over / 1e6) * price.perMillion;
    return { key, amount, cost };
  });
  return { lines, total: PRICES.base + lines.reduce((s, l) => s + l.cost, 0) };
}
const small = monthCost(10_000);
const large = monthCost(1_000_000);
console.log(`\n## What a month costs on Workers Paid (profile above; CPU ${cpuMs} ms a request; storage after a year)\n`);
console.log(
  table(
    ["item", "10,000 emails: usage", "cost", "1,000,000 emails: usage", "cost"],
    small.lines.map((l, i) => [
      l.key,
      fmt(l.amount, l.key === "d1StorageGb" ? 2 : 0),
      `$${fmt(l.cost, 2)}`,
      fmt(large.lines[i].amount, l.key === "d1StorageGb" ? 2 : 0),
      `$${fmt(large.lines[i].cost, 2)}`,
    ]),
  ),
);
console.log(
  `\nTotal with the $${PRICES.base} base: 10,000 emails $${fmt(small.total, 2)} a month; 1,000,000 emails $${fmt(large.total, 2)} a month.`,
);

#!/usr/bin/env node
// `npm run bench`: runs every benchmark in this folder one after the other
// (each is bounded, loopback-only and prints ratios against a baseline it
// measures in the same run). `npm run bench -- tracking` runs only that one.
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const benches = readdirSync(here)
  .filter((f) => f.endsWith(".mjs") && f !== "run.mjs" && !f.startsWith("_"))
  .filter((f) => only.length === 0 || only.includes(path.basename(f, ".mjs")))
  .sort();
if (benches.length === 0) {
  console.error(only.length ? `No benchmark named ${only.join(", ")}` : "No benchmarks found");
  process.exit(1);
}
// Node 20 has a WebSocket (bench/lib/worker-memory.mjs's DevTools client) only behind a flag; Node 22 has it always.
const nodeFlags = typeof WebSocket === "undefined" ? ["--experimental-websocket"] : [];
let failed = 0;
for (const file of benches) {
  console.log(`\n=== bench/${file}`);
  const result = spawnSync(process.execPath, [...nodeFlags, path.join(here, file)], { stdio: "inherit", timeout: 15 * 60_000 });
  if (result.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);

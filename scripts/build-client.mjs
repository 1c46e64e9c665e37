#!/usr/bin/env node
// Bundles the dashboard's client islands (src/dashboard/client/islands/*.tsx, one
// entry each) into static assets under dist/client/admin/assets/, which wrangler
// serves before the Worker runs (wrangler.toml [assets]). Runs before `wrangler
// dev`/`deploy` (wrangler.toml [build]), before the tests (vitest.config.ts) and in
// `npm start`. Prints each island's gzipped size and fails when one exceeds its budget.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const islands = path.join(root, "src", "dashboard", "client", "islands");
const outdir = path.join(root, "dist", "client", "admin", "assets");
/** The most JavaScript (gzipped) one island may send: issue 14's goal for the flow editor. */
const BUDGET_GZIP_BYTES = 150 * 1024;

rmSync(outdir, { recursive: true, force: true });
mkdirSync(outdir, { recursive: true });
const entryPoints = (existsSync(islands) ? readdirSync(islands) : [])
  .filter((file) => file.endsWith(".tsx"))
  .map((file) => path.join(islands, file));

const result = await build({
  absWorkingDir: root,
  entryPoints,
  outdir,
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  splitting: true,
  chunkNames: "chunk-[hash]",
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  write: true,
  metafile: true,
  logLevel: "warning",
});

let overBudget = false;
for (const [file, output] of Object.entries(result.metafile.outputs)) {
  if (!output.entryPoint) continue;
  const gzip = [...loadedFiles(file)].reduce((sum, f) => sum + gzipSync(readFileSync(path.join(root, f))).length, 0);
  const name = path.basename(file);
  console.log(`island ${name}: ${(gzip / 1024).toFixed(1)} KB gzipped`);
  if (gzip > BUDGET_GZIP_BYTES) {
    console.error(`island ${name} is ${(gzip / 1024).toFixed(1)} KB gzipped, over the ${BUDGET_GZIP_BYTES / 1024} KB budget`);
    overBudget = true;
  }
}
process.exit(overBudget ? 1 : 0);

/** An island's entry file and every chunk it loads, transitively. */
function loadedFiles(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const imported of result.metafile.outputs[file]?.imports ?? []) {
    if (imported.kind === "import-statement") loadedFiles(imported.path, seen);
  }
  return seen;
}

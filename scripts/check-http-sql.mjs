#!/usr/bin/env node
// `npm run lint` runs this beside Biome: src/http validates, authorises and hands
// over, calling src/db helpers; it writes no SQL itself (ARCHITECTURE.md). Biome's
// noRestrictedImports (biome.json) keeps drizzle-orm and the schema's tables out of
// src/http, but cannot see SQL reached without an import: `sql` tagged templates,
// calls on the drizzle instance (`c.var.db.select()`, `db.run(…)`) or the raw D1
// binding (`c.env.DB.prepare(…)`). This rejects those shapes in src/http/**.
import { readFileSync } from "node:fs";
import path from "node:path";
import { root, sourceFiles } from "./lib/source-files.mjs";

const SHAPES = [
  { name: "an sql`…` statement", pattern: /\bsql\s*(?:\.raw\s*\()?`/ },
  {
    name: "a query on the drizzle instance",
    pattern: /\bdb\s*\.\s*(?:select|selectDistinct|insert|update|delete|run|all|get|values|batch|query|with|\$count)\b/,
  },
  { name: "a statement on the D1 binding", pattern: /\b(?:DB\s*\.\s*(?:prepare|exec|batch|dump)|\.prepare\s*\()/ },
];

const problems = [];
for (const { full, relative } of sourceFiles(path.join(root, "src", "http"))) {
  readFileSync(full, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (/^\s*(?:\/\/|\*|\/\*)/.test(line)) return;
      for (const shape of SHAPES) if (shape.pattern.test(line)) problems.push(`${relative}:${i + 1}: ${shape.name}: ${line.trim()}`);
    });
}

if (problems.length > 0) {
  console.error(`${problems.join("\n")}\n\nsrc/http writes no SQL: move the statement into a query helper in src/db/ that takes db first.`);
  process.exit(1);
}

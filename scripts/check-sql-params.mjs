#!/usr/bin/env node
// `npm run lint` runs this: D1 binds at most 100 parameters per statement, so no
// query in src/ may bind one parameter per item of a list. It rejects the three
// shapes that do: drizzle's `inArray(` over a list, `sql.join(` over values, and
// `.values(` given anything but one object literal (a multi-row insert binds
// every column of every row). Lists go in as ONE JSON parameter instead
// (`IN (SELECT value FROM json_each(?))`, `INSERT … SELECT … FROM json_each(?)`),
// or one statement per row. A use whose size is bounded by construction is
// listed below with that bound; anything else fails the lint.
import { readFileSync } from "node:fs";
import path from "node:path";
import { root, sourceFiles } from "./lib/source-files.mjs";

/** Uses that cannot grow past the limit: [file, text on the line, why it is bounded]. */
const ALLOWED = [
  ["src/library/install.ts", "inArray(templates.id, ids)", "a library entry's own templates: a handful, fixed in code"],
  ["src/db/admin-views.ts", 'inArray(messages.status, ["queued", "failed", "suppressed", "cancelled"])', "four statuses, fixed in code"],
  ["src/db/flows.ts", "inArray(flows.triggerKey, keys)", "at most two keys: the event's name and the changed attribute"],
  ["src/db/contacts.ts", "inArray(links.messageId, messageIds)", "messageIds is a subquery: no parameter per id"],
  ["src/db/contacts.ts", "inArray(events.anonymousId, db.select(", "a subquery: no parameter per id"],
  ["src/contact/enroll.ts", ".values(row).onConflictDoNothing())]", "one message row per statement"],
  ["src/contact/enroll.ts", ".values(row)", "the one enrollment row"],
  ["src/db/messages.ts", "db.insert(messages).values(r)", "one message row per statement"],
  ["src/db/connectors.ts", ".values(row)", "one platform's delivery row"],
  ["src/db/contact-batch.ts", "sql.join(parts, sql` AND `)", "at most three filters: prefix, segment, consent"],
];

const PATTERNS = [
  { name: "inArray(", test: (source, at) => source.startsWith("inArray(", at) },
  { name: "sql.join(", test: (source, at) => source.startsWith("sql.join(", at) },
  {
    name: ".values( without an object literal",
    // `.values()` with no argument is a Map's or an array's iterator, not an insert.
    test: (source, at) => source.startsWith(".values(", at) && !/^\.values\(\s*[{)]/.test(source.slice(at, at + 200)),
  },
];

const problems = [];
const used = new Set();
for (const { full, relative } of sourceFiles(path.join(root, "src"))) {
  const source = readFileSync(full, "utf8");
  const lineStarts = [0];
  for (let i = 0; i < source.length; i++) if (source[i] === "\n") lineStarts.push(i + 1);
  for (let at = 0; at < source.length; at++) {
    const pattern = PATTERNS.find((p) => p.test(source, at));
    if (!pattern) continue;
    const line = lineStarts.findLastIndex((start) => start <= at);
    const text = source.slice(lineStarts[line], lineStarts[line + 1] ?? source.length);
    const column = at - lineStarts[line];
    // An entry allows this use when its text, on this line, spans the use itself.
    const allowed = ALLOWED.findIndex(([f, match]) => {
      if (f !== relative) return false;
      for (let i = text.indexOf(match); i !== -1; i = text.indexOf(match, i + 1)) if (i <= column && column < i + match.length) return true;
      return false;
    });
    if (allowed === -1) problems.push(`${relative}:${line + 1}: ${pattern.name} can bind one parameter per item: ${text.trim()}`);
    else used.add(allowed);
  }
}
ALLOWED.forEach(([file, match], i) => {
  if (!used.has(i)) problems.push(`scripts/check-sql-params.mjs: allow-list entry no longer matches anything: ${file} "${match}"`);
});

if (problems.length > 0) {
  console.error(
    `${problems.join("\n")}\n\nD1 binds at most 100 parameters per statement: pass a list as one JSON parameter (json_each), insert rows one statement each, or, when the size is bounded, add it to ALLOWED with its bound.`,
  );
  process.exit(1);
}

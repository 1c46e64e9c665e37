#!/usr/bin/env node
// `npm run build:check`: bundles the Worker as a deploy would (`wrangler deploy
// --dry-run`, offline), and warns when wrangler.toml still carries the
// placeholder database_id, which a real deploy or `--remote` migration needs
// replaced. The warning does not fail the check: everything local works with it.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";

/** The database_id values of wrangler.toml's [[d1_databases]] entries. */
function databaseIds(toml) {
  return [...toml.matchAll(/^\s*database_id\s*=\s*"([^"]*)"/gm)].map((m) => m[1]);
}

const dryRun = spawnSync(wrangler, ["deploy", "--dry-run", "--outdir", ".wrangler/dry-run"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, WRANGLER_SEND_METRICS: "false", WRANGLER_HIDE_BANNER: "true", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
});

const ids = databaseIds(readFileSync(path.join(root, "wrangler.toml"), "utf8"));
if (ids.some((id) => id === PLACEHOLDER_ID || id === "")) {
  console.warn(
    [
      "",
      "WARNING: wrangler.toml's database_id is still the placeholder.",
      "  That is fine for npm start, the tests and this check (all local).",
      "  Before `wrangler d1 migrations apply DB --remote` or `wrangler deploy`, run",
      "  `npx wrangler d1 create nurture` and put the id it prints into wrangler.toml.",
      "",
    ].join("\n"),
  );
}
process.exit(dryRun.status ?? 1);

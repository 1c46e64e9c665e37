#!/usr/bin/env node
// `npm start`: local Nurture in one command. Creates .dev.vars with fresh keys
// when it is missing (never overwrites it), applies the local D1 migrations,
// runs `wrangler dev` (offline: no telemetry, update check or Request.cf
// download), prints where to go, with which keys and the snippet tag to paste,
// and fires the cron triggers of wrangler.toml on their schedule, because
// `wrangler dev` does not run crons by itself. `PORT` moves the server, the
// links in emails (PUBLIC_URL) and lets any localhost page send snippet events
// (ALLOWED_ORIGINS=local), unless .dev.vars sets those itself.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const port = Number(process.env.PORT ?? 8787);
const base = `http://localhost:${port}`;
const devVarsPath = path.join(root, ".dev.vars");
/** Wrangler without network chatter: no telemetry, no update check (it rides on the banner), no Request.cf download. */
const quietWranglerEnv = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  WRANGLER_HIDE_BANNER: "true",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
};

function ensureDevVars() {
  if (existsSync(devVarsPath)) return false;
  const key = (bytes) => randomBytes(bytes).toString("base64url");
  const lines = [
    "# Local secrets for `npm start`, generated once. Not committed (.gitignore).",
    `ADMIN_API_KEY=${key(24)}`,
    `SIGNING_SECRET=${key(32)}`,
    `IDENTITY_SECRET=${key(32)}`,
    `SITE_KEY=site_${key(12)}`,
    "# Leave RESEND_API_KEY unset to send to the dev mailbox at /admin/mailbox.",
    "# RESEND_API_KEY=re_...",
    "# RESEND_WEBHOOK_SECRET=whsec_...",
    "",
  ];
  writeFileSync(devVarsPath, lines.join("\n"), { mode: 0o600 });
  return true;
}

function readDevVar(name) {
  const match = readFileSync(devVarsPath, "utf8").match(new RegExp(`^${name}\\s*=\\s*"?([^"\\n]*)"?\\s*$`, "m"));
  return match?.[1];
}

/** The cron expressions of wrangler.toml's [triggers] section. */
function configuredCrons() {
  const toml = readFileSync(path.join(root, "wrangler.toml"), "utf8");
  const list = toml.match(/^\s*crons\s*=\s*\[([^\]]*)\]/m)?.[1] ?? "";
  return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

/** True when a five-field cron expression matches the given UTC minute. */
export function cronMatches(expression, date) {
  const values = [date.getUTCMinutes(), date.getUTCHours(), date.getUTCDate(), date.getUTCMonth() + 1, date.getUTCDay()];
  const ranges = [
    [0, 59],
    [0, 23],
    [1, 31],
    [1, 12],
    [0, 6],
  ];
  const fields = expression.trim().split(/\s+/);
  if (fields.length !== 5) return false;
  return fields.every((field, i) =>
    field.split(",").some((part) => {
      const [range, stepText] = part.split("/");
      const step = stepText ? Number(stepText) : 1;
      let [low, high] = ranges[i];
      if (range !== "*") {
        const [a, b] = range.split("-").map(Number);
        low = a;
        high = b ?? (stepText ? high : a);
      }
      const value = i === 4 && values[i] === 0 && high === 7 ? 7 : values[i];
      return value >= low && value <= high && (value - low) % step === 0;
    }),
  );
}

function fireDueCrons(crons) {
  const now = new Date();
  for (const cron of crons.filter((c) => cronMatches(c, now))) {
    fetch(`${base}/__scheduled?cron=${encodeURIComponent(cron)}`).catch((error) => {
      console.error(`[cron] ${cron} could not be fired: ${error.message}`);
    });
  }
}

async function waitForHealth(child) {
  for (let i = 0; i < 120 && child.exitCode === null; i++) {
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) return true;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  return false;
}

const created = ensureDevVars();
console.log(created ? "Created .dev.vars with fresh keys." : "Using the existing .dev.vars.");

const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local"], {
  cwd: root,
  encoding: "utf8",
  env: { ...quietWranglerEnv, CI: "true" },
});
if (migrate.status !== 0) {
  console.error(`${migrate.stdout}\n${migrate.stderr}\nApplying the local D1 migrations failed.`);
  process.exit(migrate.status ?? 1);
}
console.log(
  /No migrations to apply/i.test(migrate.stdout)
    ? "Local database is up to date (.wrangler/state)."
    : "Local database migrated (.wrangler/state).",
);

// Local defaults that follow PORT; a value in .dev.vars wins (wrangler reads it over [vars]).
const localVars = { PUBLIC_URL: base, ALLOWED_ORIGINS: "local" };
const varArgs = Object.entries(localVars)
  .filter(([name]) => readDevVar(name) === undefined)
  .flatMap(([name, value]) => ["--var", `${name}:${value}`]);

const child = spawn(
  wrangler,
  ["dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--test-scheduled", "--show-interactive-dev-session=false", ...varArgs],
  { cwd: root, stdio: ["ignore", "inherit", "inherit"], env: quietWranglerEnv },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));

if (await waitForHealth(child)) {
  const crons = configuredCrons();
  const adminKey = readDevVar("ADMIN_API_KEY");
  const siteKey = readDevVar("SITE_KEY");
  console.log(
    [
      "",
      "Nurture is running.",
      `  Local URL:     ${base}`,
      `  Dashboard:     ${base}/admin   (log in with the admin API key)`,
      `  Admin API key: ${adminKey}`,
      `  Site key:      ${siteKey || "(none: set SITE_KEY in .dev.vars to use the snippet)"}`,
      ...(siteKey
        ? [
            "  Snippet tag (paste it on a test page served from localhost or 127.0.0.1, any port):",
            `    <script src="${base}/s.js" data-site-key="${siteKey}"></script>`,
            `  Set up your site: ${base}/admin/setup   (shows the events the snippet sends)`,
          ]
        : []),
      `  Try:           curl -H "Authorization: Bearer ${adminKey}" ${base}/v1/library`,
      `  Cron triggers fired locally each minute as scheduled: ${crons.join(", ")}`,
      "",
    ].join("\n"),
  );
  const tick = () => {
    fireDueCrons(crons);
    setTimeout(tick, 60_000 - (Date.now() % 60_000) + 50);
  };
  setTimeout(tick, 60_000 - (Date.now() % 60_000) + 50);
} else if (child.exitCode === null) {
  console.error(`The Worker did not answer on ${base}/healthz within a minute.`);
}

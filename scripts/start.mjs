#!/usr/bin/env node
// `npm start`: local Nurture in one command. Creates .dev.vars with fresh keys
// when it is missing (never overwrites it), applies the local D1 migrations,
// runs `wrangler dev`, prints where to go and with which key, and fires the
// cron triggers of wrangler.toml on their schedule, because `wrangler dev`
// does not run crons by itself.
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
  stdio: ["ignore", "inherit", "inherit"],
  env: { ...process.env, CI: "true" },
});
if (migrate.status !== 0) {
  console.error("Applying the local D1 migrations failed.");
  process.exit(migrate.status ?? 1);
}

const child = spawn(
  wrangler,
  ["dev", "--local", "--ip", "127.0.0.1", "--port", String(port), "--test-scheduled", "--show-interactive-dev-session=false"],
  { cwd: root, stdio: ["ignore", "inherit", "inherit"] },
);
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code) => process.exit(code ?? 0));

if (await waitForHealth(child)) {
  const crons = configuredCrons();
  console.log(
    [
      "",
      "Nurture is running.",
      `  Local URL:     ${base}`,
      `  Admin URL:     ${base}/admin`,
      `  Admin API key: ${readDevVar("ADMIN_API_KEY")}`,
      `  Try:           curl -H "Authorization: Bearer ${readDevVar("ADMIN_API_KEY")}" ${base}/v1/contacts/ada@example.com`,
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

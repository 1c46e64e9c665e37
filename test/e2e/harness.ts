/**
 * Browser-test harness: runs the real Worker under `wrangler dev --local` on a
 * free loopback port with a throwaway persist dir (D1 migrated first) and fresh
 * secrets, and launches the system Chromium through playwright-core. Nothing
 * leaves the machine; `stop()` kills the dev server and deletes its data.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

const root = path.resolve(import.meta.dirname, "..", "..");
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const READY_TIMEOUT_MS = 90_000;

/** A running local Worker. */
export interface RunningWorker {
  url: string;
  adminKey: string;
  /** The local D1/DO state directory (for `wrangler d1 execute --local --persist-to`). */
  persistDir: string;
  stop(): Promise<void>;
}

/** A free port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function runWrangler(args: string[]): string {
  const result = spawnSync(wrangler, args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Runs SQL against the local D1 of a harness Worker. */
export function executeSql(persistDir: string, sqlText: string): void {
  const file = path.join(persistDir, `seed-${randomBytes(4).toString("hex")}.sql`);
  writeFileSync(file, sqlText);
  runWrangler(["d1", "execute", "DB", "--local", "--persist-to", persistDir, "--file", file]);
}

/** Runs one SQL query against the local D1 of a harness Worker and returns its rows. */
export function querySql<T = Record<string, unknown>>(persistDir: string, sqlText: string): T[] {
  const out = runWrangler(["d1", "execute", "DB", "--local", "--persist-to", persistDir, "--json", "--command", sqlText]);
  return JSON.parse(out)[0].results as T[];
}

/** Starts the Worker locally with fresh secrets and an empty, migrated D1; `extraVars` add to or override its vars. */
export async function startWorker(extraVars: Record<string, string> = {}): Promise<RunningWorker> {
  const persistDir = mkdtempSync(path.join(tmpdir(), "nurture-e2e-"));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const adminKey = randomBytes(24).toString("base64url");
  runWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir]);
  const vars = {
    ADMIN_API_KEY: adminKey,
    SIGNING_SECRET: randomBytes(32).toString("base64url"),
    SITE_KEY: "site_e2e",
    PUBLIC_URL: url,
    ALLOWED_ORIGINS: url,
    ...extraVars,
  };
  const child: ChildProcess = spawn(
    wrangler,
    [
      "dev",
      "--local",
      "--ip",
      "127.0.0.1",
      "--port",
      String(port),
      "--persist-to",
      persistDir,
      "--show-interactive-dev-session=false",
      // Lets a test fire the crons (`/__scheduled?cron=…`), as Cloudflare does every minute.
      "--test-scheduled",
      // Its own inspector port: the default 9229 is taken when another dev server runs on the machine.
      "--inspector-port",
      String(await freePort()),
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { cwd: root, env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" }, stdio: ["ignore", "pipe", "pipe"], detached: true },
  );
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  const stop = async () => {
    if (child.exitCode === null && child.pid) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid, "SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    }
    rmSync(persistDir, { recursive: true, force: true });
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) break;
    try {
      if ((await fetch(`${url}/healthz`)).ok) return { url, adminKey, persistDir, stop };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  await stop();
  throw new Error(`wrangler dev did not become ready:\n${output}`);
}

/**
 * `fetch` for test calls to the Worker. Node keeps idle connections for reuse; when one sat
 * through a slow step (a `wrangler d1 execute`), the dev server may have closed it already, and
 * the next request fails with "other side closed" before reaching the Worker: that one is sent again.
 */
export async function workerFetch(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code !== "UND_ERR_SOCKET") throw error;
    return fetch(url, init);
  }
}

/** Launches the system Chromium headless (never downloads a browser). */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** A desktop browser's agent: headless Chromium's own one is (rightly) taken for a bot. */
export const DESKTOP_USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

/** Calls `read` (a D1 query or an API call, say) every 300 ms until `check` passes; throws with the last value after `timeoutMs`. */
export async function eventually<T>(read: () => T | Promise<T>, check: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Logs `page` in to the dashboard of `worker` with its admin key and waits for the overview. */
export async function logIn(page: Page, worker: RunningWorker): Promise<void> {
  await page.goto(`${worker.url}/admin/login`);
  await page.fill("#key", worker.adminKey);
  await page.click("button[type=submit]");
  await page.waitForURL(`${worker.url}/admin`);
}

/**
 * Calls the admin API of `worker` with its key: JSON in (POST when there is a body and no method) and out (null for
 * a 204); throws with the answer on anything but 2xx.
 */
export async function adminApi<T = any>(
  worker: RunningWorker,
  pathname: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
  const res = await workerFetch(`${worker.url}${pathname}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: { authorization: `Bearer ${worker.adminKey}`, "content-type": "application/json" },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return (res.status === 204 ? null : await res.json()) as T;
}

/** Where the browser tests' screenshots go (ignored by git). */
export const ARTIFACTS = path.join(root, "test-artifacts", "e2e");

/**
 * Saves a full-page screenshot of `page` as test-artifacts/e2e/<name>.png and returns its path; with
 * UPDATE_SCREENSHOTS=1 (`npm run screenshots`) it is also copied to docs/screenshots/<publishAs>.png for the README.
 */
export async function screenshot(page: Page, name: string, publishAs?: string): Promise<string> {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (publishAs && process.env.UPDATE_SCREENSHOTS === "1") copyFileSync(file, path.join(root, "docs", "screenshots", `${publishAs}.png`));
  return file;
}

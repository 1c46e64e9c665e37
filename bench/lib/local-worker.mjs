// Shared by the benchmarks: runs this Worker under `wrangler dev --local` on a
// free loopback port with throwaway state and fresh keys, and stops it (and
// deletes the state) on exit, on a signal, or when the caller's time limit hits.
import { execFile, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const quietEnv = { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" };

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function runWrangler(args) {
  const result = spawnSync(wrangler, args, { cwd: root, encoding: "utf8", env: quietEnv });
  if (result.status !== 0) throw new Error(`wrangler ${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * Starts the Worker; `limitMs` bounds the whole benchmark (it exits with 1 when
 * exceeded). Returns its URL, admin key, an authorised JSON client, SQL
 * runners against its local D1, its `inspectorPort`, `restart(during)`, `processGroup()`, `tally()` and `stop()`.
 * Cron handlers can be fired at `${url}/__scheduled?cron=…`. With `metered`, the Worker runs through
 * bench/lib/metered-worker.ts, and `tally()` reads the D1 queries it has made (and its cron runs') since it started.
 */
export async function startLocalWorker({ name, limitMs, vars = {}, metered = false }) {
  const persistDir = mkdtempSync(path.join(tmpdir(), `nurture-${name}-`));
  const adminKey = randomBytes(24).toString("base64url");
  const port = await freePort();
  const inspectorPort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let child;
  const stop = () => {
    if (child?.pid && child.exitCode === null) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }
    rmSync(persistDir, { recursive: true, force: true });
  };
  const limit = setTimeout(() => {
    console.error(`bench/${name}: exceeded ${limitMs / 1000}s, stopping`);
    stop();
    process.exit(1);
  }, limitMs);
  limit.unref();
  // Also when the bench dies of an uncaught error, which skips its own clean-up.
  process.on("exit", stop);
  for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => {
      stop();
      process.exit(130);
    });
  }
  runWrangler(["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir]);
  const allVars = { ADMIN_API_KEY: adminKey, SIGNING_SECRET: randomBytes(24).toString("base64url"), PUBLIC_URL: url, ...vars };

  async function launch() {
    child = spawn(
      wrangler,
      [
        "dev",
        ...(metered ? [path.join(root, "bench", "lib", "metered-worker.ts")] : []),
        "--local",
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--persist-to",
        persistDir,
        "--show-interactive-dev-session=false",
        "--test-scheduled",
        // Its own inspector port: the default 9229 is taken when another dev server runs on the machine.
        "--inspector-port",
        String(inspectorPort),
        ...Object.entries(allVars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
      ],
      { cwd: root, env: quietEnv, stdio: process.env.BENCH_WORKER_LOG ? ["ignore", "inherit", "inherit"] : "ignore", detached: true },
    );
    const deadline = Date.now() + 90_000;
    for (;;) {
      try {
        if ((await fetch(`${url}/healthz`)).ok) return;
      } catch {}
      if (Date.now() > deadline || child.exitCode !== null) {
        stop();
        throw new Error("wrangler dev did not start");
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  /**
   * Stops the dev server (gracefully, or with `signal: "SIGKILL"` as a crash would, mid-request), runs `during` (e.g.
   * bulk seeding of its state), and starts it again on the same state, with `vars` merged into its vars.
   */
  async function restart(during = () => {}, { vars: changedVars = {}, signal = "SIGTERM" } = {}) {
    Object.assign(allVars, changedVars);
    if (child?.pid && child.exitCode === null) {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      process.kill(-child.pid, signal);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) process.kill(-child.pid, "SIGKILL");
    }
    await during();
    await launch();
  }

  await launch();

  /** An authorised JSON request; throws on a non-2xx answer. */
  async function api(pathname, { method = "GET", body } = {}) {
    const res = await fetch(`${url}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${pathname} → ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }

  /** The arguments of `wrangler d1 execute` running `sqlText` against the Worker's local D1. */
  function executeArgs(sqlText) {
    const file = path.join(persistDir, `sql-${randomBytes(4).toString("hex")}.sql`);
    writeFileSync(file, sqlText);
    return ["d1", "execute", "DB", "--local", "--persist-to", persistDir, "--file", file];
  }

  /** Runs SQL against the Worker's local D1. */
  function executeSql(sqlText) {
    runWrangler(executeArgs(sqlText));
  }

  /**
   * Runs SQL as executeSql does, without blocking: `watch(processGroup)` is called once the command has started (its
   * workerd belongs to that group) and returns a function, whose result, called when the command has ended, is returned.
   */
  async function executeSqlWatched(sqlText, watch) {
    const command = spawn(wrangler, executeArgs(sqlText), {
      cwd: root,
      env: quietEnv,
      stdio: ["ignore", "ignore", "pipe"],
      detached: true,
    });
    let stderr = "";
    command.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const finish = watch(command.pid);
    const status = await new Promise((resolve) => command.once("exit", resolve));
    const watched = finish();
    if (status !== 0) throw new Error(`wrangler d1 execute failed:\n${stderr}`);
    return watched;
  }

  const queryArgs = (sqlText) => ["d1", "execute", "DB", "--local", "--persist-to", persistDir, "--json", "--command", sqlText];
  /** Runs one SQL query against the Worker's local D1 and returns its rows. */
  function querySql(sqlText) {
    return JSON.parse(runWrangler(queryArgs(sqlText)))[0].results;
  }
  /**
   * querySql without blocking this process: a fake provider served from it keeps answering meanwhile (blocked,
   * it would handle the requests that arrived in the pause all at once, and count them into one second). The
   * Worker keeps writing then, so a query that meets its lock (SQLITE_BUSY) is asked again.
   */
  async function querySqlAsync(sqlText) {
    for (let attempt = 1; ; attempt++) {
      const { error, stdout, stderr } = await new Promise((resolve) =>
        execFile(
          wrangler,
          queryArgs(sqlText),
          { cwd: root, encoding: "utf8", env: quietEnv, maxBuffer: 64 * 1024 * 1024 },
          (error, stdout, stderr) => resolve({ error, stdout, stderr }),
        ),
      );
      if (!error) return JSON.parse(stdout)[0].results;
      if (attempt >= 20 || !`${stdout}${stderr}`.includes("SQLITE_BUSY"))
        throw new Error(`wrangler d1 execute failed:\n${stdout}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** The metered Worker's tally: D1 queries, rows and Durable Object calls so far, and `crons` (invocations, D1 queries). */
  async function tally() {
    const res = await fetch(`${url}/__bench/tally`);
    if (!res.ok) throw new Error(`/__bench/tally → ${res.status} (start the worker with metered: true)`);
    return res.json();
  }

  return {
    url,
    /** wrangler's DevTools endpoint for the Worker (its InspectorProxyWorker; `/json` lists the WebSocket). */
    inspectorPort,
    tally,
    adminKey,
    persistDir,
    api,
    executeSql,
    executeSqlWatched,
    querySql,
    querySqlAsync,
    restart,
    /** The dev server's process group (its workerd processes belong to it). */
    processGroup: () => child.pid,
    stop: () => {
      clearTimeout(limit);
      stop();
    },
  };
}

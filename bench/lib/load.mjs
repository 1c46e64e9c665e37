// Shared by the benchmarks: drives load with wrk (a C load generator, so the
// client is never the bottleneck, as Node's fetch was) and reads the CPU time
// the Worker's workerd processes spend, from /proc. wrk is installed from
// Debian when missing (as root), else the bench stops with what to run.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Clock ticks per second of /proc/<pid>/stat's utime and stime (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/** Makes sure `wrk` is on the PATH: installs the Debian package when running as root, else exits with instructions. */
export function ensureWrk() {
  if (spawnSync("wrk", ["--version"]).error === undefined) return;
  if (process.getuid?.() !== 0) {
    console.error("The benchmarks drive load with wrk, which is not installed. Run: sudo apt-get install -y wrk");
    process.exit(1);
  }
  console.log("wrk is missing: installing it with apt-get");
  const install = () => spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "wrk"], { stdio: "inherit" }).status === 0;
  if (!install() && !(spawnSync("apt-get", ["update"], { stdio: "inherit" }).status === 0 && install())) {
    console.error("apt-get could not install wrk; install it by hand (apt-get install -y wrk) and run the bench again");
    process.exit(1);
  }
}

/** A Lua script for wrk: cycles through `paths` (one per request), sends `headers`, and prints one JSON summary line. */
function luaScript(paths, headers) {
  const quoted = (s) => JSON.stringify(s); // a JSON string of ASCII is a valid Lua string
  return `local paths = { ${paths.map(quoted).join(",\n")} }
local next_index = 0
${Object.entries(headers)
  .map(([k, v]) => `wrk.headers[${quoted(k)}] = ${quoted(v)}`)
  .join("\n")}
request = function()
  next_index = next_index % #paths + 1
  return wrk.format("GET", paths[next_index])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"errors":%d,"badStatus":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
`;
}

/**
 * Runs wrk against `origin` for `seconds`, with `connections` open at once, cycling through `paths`
 * (each a path with its query). Returns requests served, requests/s, p50/p99 latency (ms), socket
 * errors and answers outside 2xx/3xx.
 */
export async function runWrk({ origin, paths, connections, seconds, headers = {} }) {
  const dir = mkdtempSync(path.join(tmpdir(), "nurture-wrk-"));
  const script = path.join(dir, "load.lua");
  writeFileSync(script, luaScript(paths, headers));
  const threads = Math.min(connections, 2);
  try {
    const output = await new Promise((resolve, reject) => {
      const child = spawn(
        "wrk",
        ["-t", String(threads), "-c", String(connections), "-d", `${seconds}s`, "--timeout", "5s", "-s", script, origin],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      let text = "";
      child.stdout.on("data", (chunk) => {
        text += chunk;
      });
      child.once("error", reject);
      child.once("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}:\n${text}`))));
    });
    const line = output.split("\n").find((l) => l.startsWith("BENCH_JSON "));
    if (!line) throw new Error(`wrk printed no summary:\n${output}`);
    const r = JSON.parse(line.slice("BENCH_JSON ".length));
    return {
      requests: r.requests,
      rps: r.requests / (r.durationUs / 1e6),
      p50: r.p50Us / 1000,
      p99: r.p99Us / 1000,
      errors: r.errors,
      badStatus: r.badStatus,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Total CPU time (user + system, ms) of the workerd processes in a process group: the Worker's own cost. */
export function workerdCpuMs(groupId) {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      // Fields after the command: state ppid pgrp … utime (12th) stime (13th).
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (comm.startsWith("workerd") && Number(fields[2]) === groupId) {
        total += ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
      }
    } catch {
      // The process ended between listing and reading.
    }
  }
  return total;
}

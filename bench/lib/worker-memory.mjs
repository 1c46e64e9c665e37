// Shared by the benchmarks: the memory of a `wrangler dev` Worker, split by what holds it. Under `wrangler dev` two
// workerd processes serve it: wrangler's proxy (its ProxyWorker and InspectorProxyWorker, which every request and
// answer passes through) and the runtime that runs the Worker's isolate and, in the same process, local D1 (SQLite
// in a Durable Object of miniflare's). Resident memory (RSS) of the runtime therefore mixes the Worker's JS heap with
// SQLite's page cache and the allocator's retained pages; the isolate's own heap is read from V8 over the DevTools
// protocol that wrangler serves on the inspector port.
import { readdirSync, readFileSync } from "node:fs";

const MIB = 1024 * 1024;

/** Resident memory (MiB) of the workerd processes in a process group, as `runtime` (the Worker and D1) and `proxy`. */
export function workerdRssMiB(group) {
  const rss = { runtime: 0, proxy: 0 };
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[2]) !== group || !stat.includes("(workerd)")) continue;
      // Only the runtime is started with an inspector address (the proxy connects to it).
      const role = readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("--inspector-addr") ? "runtime" : "proxy";
      rss[role] += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
    } catch {
      // The process ended between listing and reading.
    }
  }
  return rss;
}

/**
 * A DevTools client on wrangler's inspector port. Being attached also keeps wrangler's InspectorProxyWorker from
 * holding the runtime's events (a Network event set per D1 call) until some DevTools client comes to read them.
 * `heapUsedMiB()` is V8's used heap of the Worker's isolate (its Durable Objects share it; D1's SQLite is not in it).
 */
export async function connectInspector(port) {
  const [target] = await (await fetch(`http://127.0.0.1:${port}/json`)).json();
  // The InspectorProxyWorker refuses an upgrade without an Origin from loopback or its own DevTools.
  const socket = new WebSocket(target.webSocketDebuggerUrl, { headers: { origin: "http://127.0.0.1" } });
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = () => reject(new Error(`no DevTools connection at ${target.webSocketDebuggerUrl}`));
  });
  let lastId = 0;
  const pending = new Map();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  };
  function call(method, timeoutMs = 10_000) {
    const id = ++lastId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`DevTools ${method} did not answer`));
      }, timeoutMs);
      pending.set(id, (message) => {
        clearTimeout(timer);
        message.error ? reject(new Error(`DevTools ${method}: ${message.error.message}`)) : resolve(message.result);
      });
      socket.send(JSON.stringify({ id, method }));
    });
  }
  const heapUsedMiB = async () => (await call("Runtime.getHeapUsage")).usedSize / MIB;
  return {
    heapUsedMiB,
    /**
     * The heap still alive after a full collection. workerd never answers `HeapProfiler.collectGarbage`, but a heap
     * snapshot collects first; its chunks (events, not kept) are dropped.
     */
    retainedHeapMiB: async () => {
      await call("HeapProfiler.takeHeapSnapshot", 120_000);
      return heapUsedMiB();
    },
    close: () => socket.close(),
  };
}

/** The first, early (the first tenth's peak), peak of each half, overall peak and last of a series of samples. */
function summarise(values) {
  const half = Math.ceil(values.length / 2);
  return {
    first: values[0] ?? 0,
    earlyPeak: Math.max(0, ...values.slice(0, Math.max(1, Math.ceil(values.length / 10)))),
    firstHalfPeak: Math.max(0, ...values.slice(0, half)),
    secondHalfPeak: Math.max(0, ...values.slice(half)),
    peak: Math.max(0, ...values),
    last: values[values.length - 1] ?? 0,
  };
}

/**
 * Samples now, every 200 ms and at `stop()`: the runtime's and the proxy's RSS of `group`, and, given an `inspector`,
 * the Worker isolate's used JS heap. `await stop()` summarises each series.
 */
export function sampleWorkerMemory(group, inspector) {
  const runtime = [];
  const proxy = [];
  const heap = [];
  let reading = Promise.resolve();
  let idle = true;
  const sample = () => {
    const rss = workerdRssMiB(group);
    runtime.push(rss.runtime);
    proxy.push(rss.proxy);
    if (!inspector || !idle) return;
    idle = false;
    reading = inspector
      .heapUsedMiB()
      .then((used) => heap.push(used))
      // A sample the isolate was too busy to answer is left out.
      .catch(() => {})
      .finally(() => {
        idle = true;
      });
  };
  sample();
  const timer = setInterval(sample, 200);
  return async () => {
    clearInterval(timer);
    await reading;
    sample();
    await reading;
    return { runtime: summarise(runtime), proxy: summarise(proxy), heap: { ...summarise(heap), samples: heap.length } };
  };
}

/** Resident memory (MiB) of all workerd processes in a group, every 200 ms once one runs; `stop()` summarises it. */
export function sampleGroupRss(group) {
  const samples = [];
  const timer = setInterval(() => {
    const rss = workerdRssMiB(group);
    if (rss.runtime + rss.proxy > 0) samples.push(rss.runtime + rss.proxy);
  }, 200);
  return () => {
    clearInterval(timer);
    return summarise(samples);
  };
}

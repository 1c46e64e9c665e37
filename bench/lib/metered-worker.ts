/**
 * The Worker as the benchmarks run it when they count D1 queries: the real entry, its env's D1 and ContactTimer
 * namespace wrapped in bench/capacity/meter.ts, one tally for the isolate (requests and cron runs add to it, with
 * D1's time per statement), read at GET /__bench/tally. Durable Objects keep their own env, so their D1 calls are not in it. Bench only: src/
 * knows nothing of it, and it is served only by `wrangler dev` started by bench/lib/local-worker.mjs.
 */
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { meteredEnv, newTally } from "../capacity/meter";

export { ContactTimer, Throttle } from "../../src/index";

const tally = { ...newTally(), bySql: {} };
/** Cron invocations of each schedule that have ended, and the D1 queries they made in all. */
const crons: Record<string, { invocations: number; d1Queries: number }> = {};

export default {
  fetch(request, env, ctx) {
    if (new URL(request.url).pathname === "/__bench/tally") return Response.json({ ...tally, crons });
    return worker.fetch(request, meteredEnv(env, tally), ctx);
  },
  async scheduled(controller, env, ctx) {
    // Its own tally as well, so that requests served meanwhile are not counted against the run.
    const own = newTally();
    try {
      await worker.scheduled(controller, meteredEnv(meteredEnv(env, tally), own), ctx);
    } finally {
      const before = crons[controller.cron] ?? { invocations: 0, d1Queries: 0 };
      crons[controller.cron] = { invocations: before.invocations + 1, d1Queries: before.d1Queries + own.d1Queries };
    }
  },
  queue(batch, env, ctx) {
    return worker.queue(batch, meteredEnv(env, tally), ctx);
  },
} satisfies ExportedHandler<Env>;

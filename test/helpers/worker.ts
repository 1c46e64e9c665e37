/**
 * Hands a request to the Worker's own fetch handler (src/index.ts) in the test's isolate, with the test env and a
 * fresh execution context, as the runtime does for each request.
 *
 * Not through `exports.default.fetch`: in @cloudflare/vitest-pool-workers 0.15.1 each call through that loopback
 * costs more than the one before, whatever the Worker does (a Worker answering "ok": 14 ms a call after 200 calls,
 * 290 ms after 800), so a file of a few thousand requests slows to minutes per test and ends in "Maximum call stack
 * size exceeded". Called directly, the same handler stays under a millisecond.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src/index";

export function fetchWorker(request: Request): Promise<Response> {
  return Promise.resolve(worker.fetch(request, env, createExecutionContext()));
}

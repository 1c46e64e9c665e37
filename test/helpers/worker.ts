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

const MAX_REDIRECTS = 20;

/**
 * Like `fetch`: redirects are followed unless the request says `redirect: "manual"`, and the answer's `url` is where
 * it came from. A redirect off the Worker's own origin is answered as it is, since nothing else runs here.
 */
export async function fetchWorker(request: Request): Promise<Response> {
  let current = request;
  for (let hop = 0; ; hop++) {
    const response = await worker.fetch(current, env, createExecutionContext());
    const location = response.headers.get("location");
    const next = location ? new URL(location, current.url) : null;
    const follow = request.redirect !== "manual" && response.status >= 300 && response.status < 400 && next;
    if (!follow || next.origin !== new URL(current.url).origin || hop === MAX_REDIRECTS) {
      Object.defineProperty(response, "url", { value: current.url });
      return response;
    }
    // As browsers do: a 303, or a 301/302 after a POST, is fetched again with GET and no body.
    const asGet = response.status === 303 || ((response.status === 301 || response.status === 302) && current.method === "POST");
    current = new Request(next, asGet ? { method: "GET", headers: current.headers } : current);
  }
}

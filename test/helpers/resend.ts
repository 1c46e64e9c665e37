/**
 * A fake Resend for delivery tests: records every request that reaches it and
 * answers as told, and holds to Resend's own rules: a batch of more than 100
 * emails is refused whole (422 validation_error); a key seen before with the
 * same payload gets the first answer again and sends nothing; a key seen
 * before with another payload is refused (409 invalid_idempotent_request).
 * `accepted` lists the emails that were really sent, once each.
 */
import { env } from "cloudflare:workers";
import { vi } from "vitest";
import type { Env } from "../../src/env";

export const FAKE_RESEND = "https://resend.fake";

export interface ResendRequest {
  url: string;
  headers: Record<string, string>;
  emails: {
    from: string;
    to: string[];
    subject: string;
    html: string;
    text: string;
    headers?: Record<string, string>;
    tags: { name: string; value: string }[];
  }[];
  at: number;
}

/** An answer, or "lost": the fake accepts and sends the emails, but the response never arrives (the call throws). */
type Answer = (request: ResendRequest, index: number) => Response | "lost" | Promise<Response | "lost">;

/** Accepts every email, answering ids `re_<n>` in order. */
export const acceptAll = (request: ResendRequest, _index: number): Response =>
  Response.json({ data: request.emails.map((_, i) => ({ id: `re_${crypto.randomUUID().slice(0, 8)}_${i}` })) });

export type FakeResend = ResendRequest[] & { accepted: ResendRequest["emails"] };

/** Replaces fetch to the fake host; other URLs are refused so nothing leaks out. Returns the recorded requests. */
export function fakeResend(answer: Answer = acceptAll): FakeResend {
  const requests = Object.assign([] as ResendRequest[], { accepted: [] as ResendRequest["emails"] });
  const answered = new Map<string, { payload: string; status: number; body: string; headers: Headers }>();
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(FAKE_RESEND)) throw new Error(`unexpected fetch to ${request.url}`);
    // The runtime's clock stands still between I/O events; a zero timer brings it up to date for `at`.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const payload = await request.text();
    const recorded: ResendRequest = {
      url: request.url,
      headers: Object.fromEntries(request.headers),
      emails: JSON.parse(payload),
      at: Date.now(),
    };
    requests.push(recorded);
    const key = recorded.headers["idempotency-key"];
    const earlier = key ? answered.get(key) : undefined;
    if (earlier && earlier.payload !== payload)
      return Response.json(
        { statusCode: 409, name: "invalid_idempotent_request", message: "Same idempotency key used with a different request payload." },
        { status: 409 },
      );
    if (earlier) return new Response(earlier.body, earlier);
    if (recorded.emails.length > 100)
      return Response.json(
        { statusCode: 422, name: "validation_error", message: "Too many emails in a batch: the limit is 100." },
        { status: 422 },
      );
    const given = await answer(recorded, requests.length - 1);
    const response = given === "lost" ? acceptAll(recorded, 0) : given;
    if (response.ok) {
      requests.accepted.push(...recorded.emails);
      if (key) answered.set(key, { payload, status: response.status, body: await response.clone().text(), headers: response.headers });
    }
    if (given === "lost") throw new TypeError("Network connection lost");
    return response;
  });
  return requests;
}

/** The Worker's bindings with a provider configured (the fake), as a deployment with RESEND_API_KEY would have. */
export function providerEnv(vars: Partial<Env> = {}): Env {
  return { ...env, RESEND_API_KEY: "re_test_key", RESEND_BASE_URL: FAKE_RESEND, ...vars };
}

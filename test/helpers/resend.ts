/** A fake Resend for delivery tests: records every request that reaches it and answers as told. */
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

type Answer = (request: ResendRequest, index: number) => Response | Promise<Response>;

/** Accepts every email, answering ids `re_<n>` in order. */
export const acceptAll: Answer = (request) =>
  Response.json({ data: request.emails.map((_, i) => ({ id: `re_${crypto.randomUUID().slice(0, 8)}_${i}` })) });

/** Replaces fetch to the fake host; other URLs are refused so nothing leaks out. Returns the recorded requests. */
export function fakeResend(answer: Answer = acceptAll): ResendRequest[] {
  const requests: ResendRequest[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(FAKE_RESEND)) throw new Error(`unexpected fetch to ${request.url}`);
    const recorded: ResendRequest = {
      url: request.url,
      headers: Object.fromEntries(request.headers),
      emails: await request.json(),
      at: Date.now(),
    };
    requests.push(recorded);
    return answer(recorded, requests.length - 1);
  });
  return requests;
}

/** The Worker's bindings with a provider configured (the fake), as a deployment with RESEND_API_KEY would have. */
export function providerEnv(vars: Partial<Env> = {}): Env {
  return { ...env, RESEND_API_KEY: "re_test_key", RESEND_BASE_URL: FAKE_RESEND, ...vars };
}

/**
 * A fake Cloudflare Turnstile siteverify, beside the fake Resend: it checks the secret and answers success for
 * `PASS_TOKEN` only (as Cloudflare does for a solved widget), recording every verification it was asked for.
 */
import { vi } from "vitest";
import type { Env } from "../../src/env";
import { type FakeResend, fakeResend, providerEnv } from "./resend";

export const FAKE_SITEVERIFY = "https://turnstile.fake/siteverify";
export const TURNSTILE_SECRET = "0x4AAAAAAAtest-secret";
export const PASS_TOKEN = "token-the-widget-issued";

export interface Verification {
  secret: string;
  response: string;
  remoteip: string | null;
}

/** The fake provider and the fake siteverify (`"down"`: it cannot be reached); returns both records. */
export function fakeTurnstile(mode: "up" | "down" = "up"): { verifications: Verification[]; mail: FakeResend } {
  const mail = fakeResend();
  const resend = vi.mocked(globalThis.fetch).getMockImplementation()!;
  const verifications: Verification[] = [];
  vi.mocked(globalThis.fetch).mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!request.url.startsWith(FAKE_SITEVERIFY)) return resend(input, init);
    if (mode === "down") throw new TypeError("Network connection lost");
    const form = await request.formData();
    const verification = {
      secret: String(form.get("secret")),
      response: String(form.get("response")),
      remoteip: form.has("remoteip") ? String(form.get("remoteip")) : null,
    };
    verifications.push(verification);
    const success = verification.secret === TURNSTILE_SECRET && verification.response === PASS_TOKEN;
    return Response.json({ success, "error-codes": success ? [] : ["invalid-input-response"] });
  });
  return { verifications, mail };
}

/** Bindings with the fake provider and Turnstile switched on against the fake siteverify. */
export function turnstileEnv(vars: Partial<Env> = {}): Env {
  return providerEnv({
    TURNSTILE_SITE_KEY: "0x4AAAAAAAsite-key",
    TURNSTILE_SECRET_KEY: TURNSTILE_SECRET,
    TURNSTILE_VERIFY_URL: FAKE_SITEVERIFY,
    ...vars,
  });
}

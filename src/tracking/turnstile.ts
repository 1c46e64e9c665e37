/**
 * Cloudflare Turnstile for sign-up forms: with TURNSTILE_SECRET_KEY set, a sign-up counts only when the widget's
 * token (`cf-turnstile-response`) passes Cloudflare's siteverify. A token is single-use and verified server-side;
 * an unreachable or unreadable siteverify fails closed, so a bot gains nothing by making the check fail.
 */
import type { Config } from "../env";

/** The longest token Cloudflare issues is 2048 characters. */
export const MAX_TURNSTILE_TOKEN = 2048;
const VERIFY_TIMEOUT_MS = 5000;

/** Whether sign-ups must carry a Turnstile token. */
export function turnstileRequired(config: Config): boolean {
  return !!config.TURNSTILE_SECRET_KEY;
}

/** Whether `token` passes siteverify; true when Turnstile is not configured, false for a missing or refused token. */
export async function turnstilePassed(config: Config, token: string | undefined, ip: string | null): Promise<boolean> {
  const secret = config.TURNSTILE_SECRET_KEY;
  if (!secret) return true;
  if (!token || token.length > MAX_TURNSTILE_TOKEN) return false;
  const form = new FormData();
  form.set("secret", secret);
  form.set("response", token);
  if (ip) form.set("remoteip", ip);
  try {
    const res = await fetch(config.TURNSTILE_VERIFY_URL, { method: "POST", body: form, signal: AbortSignal.timeout(VERIFY_TIMEOUT_MS) });
    const outcome = (await res.json()) as { success?: unknown; "error-codes"?: unknown };
    if (outcome.success === true) return true;
    console.warn(JSON.stringify({ level: "warn", message: "turnstile token refused", codes: outcome["error-codes"] ?? null }));
    return false;
  } catch (error) {
    console.warn(JSON.stringify({ level: "warn", message: "turnstile siteverify unreachable", error: String(error).slice(0, 200) }));
    return false;
  }
}

/**
 * Admin API authentication: `Authorization: Bearer $ADMIN_API_KEY`, compared in
 * constant time. Anything else is a 401 in the SPEC's error shape; a client IP
 * with too many failures (bearer checks and dashboard logins together) gets
 * 429 for every attempt, right or wrong, until its window ends.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Env } from "../env";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";
import { allowHit, clientIp, isExhausted, rateLimited } from "./throttle";

const encoder = new TextEncoder();

/** Compares two secrets in constant time (hashing first, so lengths leak nothing either). */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/**
 * Checks a presented admin key for this client. A throttled IP is refused before the key is compared, so a
 * throttled client learns nothing from its guesses; a wrong key counts a failure against the IP.
 */
export async function checkAdminKey(
  c: Context,
  env: Env,
  adminKey: string,
  given: string | undefined,
): Promise<"accepted" | "rejected" | "throttled"> {
  const ip = clientIp(c);
  if (ip && (await isExhausted(env, "adminFailure", ip))) return "throttled";
  if (given && (await secretsEqual(given, adminKey))) return "accepted";
  if (ip) await allowHit(env, "adminFailure", ip);
  return "rejected";
}

/** Requires the admin bearer key on every request it guards. */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async function requireAdminKey(c, next) {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const verdict = await checkAdminKey(c, c.env, c.var.config.ADMIN_API_KEY, match?.[1]);
    if (verdict === "throttled") throw rateLimited(c, "adminFailure");
    if (verdict === "rejected") throw new ApiError(401, "unauthorized", "A valid admin API key is required (Authorization: Bearer …)");
    await next();
  };
}

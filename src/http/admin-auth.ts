/**
 * Admin API authentication: `Authorization: Bearer $ADMIN_API_KEY`, compared in
 * constant time. Anything else is a 401 in the SPEC's error shape.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";

const encoder = new TextEncoder();

/** Compares two secrets in constant time (hashing first, so lengths leak nothing either). */
export async function secretsEqual(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}

/** Requires the admin bearer key on every request it guards. */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async function requireAdminKey(c, next) {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match?.[1] || !(await secretsEqual(match[1], c.var.config.ADMIN_API_KEY))) {
      throw new ApiError(401, "unauthorized", "A valid admin API key is required (Authorization: Bearer …)");
    }
    await next();
  };
}

/**
 * Admin API authentication: `Authorization: Bearer $ADMIN_API_KEY`, compared in
 * constant time, or — for the dashboard's editors, which call the same API — the
 * dashboard's session cookie with its CSRF token in `X-CSRF-Token` (a header no
 * other site can set on a credentialed request without passing CORS, which /v1/*
 * never grants). Anything else is a 401 in the SPEC's error shape; a client IP
 * with too many failures (bearer checks and dashboard logins together) gets
 * 429 for every attempt, right or wrong, until its window ends.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Env } from "../env";
import type { AppEnv } from "./context";
import { ApiError } from "./errors";
import { csrfTokenValid, readSession, sameOrigin } from "./session";
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

/** Whether a request without a bearer key carries a live dashboard session, its CSRF token and, to change anything, this origin. */
async function dashboardSessionAllows(c: Context<AppEnv>): Promise<boolean> {
  const now = Date.now();
  const session = await readSession(c, c.var.config, now);
  if (!session) return false;
  const token = c.req.header("x-csrf-token") ?? "";
  if (!(await csrfTokenValid(c.var.config.SIGNING_SECRET, session, token, now))) return false;
  return c.req.method === "GET" || c.req.method === "HEAD" || sameOrigin(c);
}

/** Requires the admin bearer key (or a dashboard session with its CSRF token) on every request it guards. */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async function requireAdminKey(c, next) {
    if (c.req.header("authorization") === undefined && (await dashboardSessionAllows(c))) return next();
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const verdict = await checkAdminKey(c, c.env, c.var.config.ADMIN_API_KEY, match?.[1]);
    if (verdict === "throttled") throw rateLimited(c, "adminFailure");
    if (verdict === "rejected") throw new ApiError(401, "unauthorized", "A valid admin API key is required (Authorization: Bearer …)");
    await next();
  };
}

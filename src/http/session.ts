/**
 * Dashboard sessions: logging in with the admin key sets an HttpOnly, Secure,
 * SameSite=Strict cookie holding an expiring signed token (tracking/tokens,
 * kind `session`) that names a random session id and a fingerprint of the
 * admin key, so rotating ADMIN_API_KEY logs every session out. Each form
 * carries a CSRF token (kind `csrf`) bound to the session id; POSTs also
 * need a same-origin `Origin` (or `Sec-Fetch-Site: same-origin`). The cookie's
 * path is `/` because the dashboard's editors call the admin API at /v1/* with it
 * (http/admin-auth); SameSite=Strict and the CSRF header keep other sites out.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Config } from "../env";
import { signExpiringToken, verifyExpiringToken } from "../tracking/tokens";

/** The session cookie's name. */
export const SESSION_COOKIE = "nurture_admin";
/** How long a login lasts. */
export const SESSION_TTL_MS = 12 * 3_600_000;

const encoder = new TextEncoder();

/** A short fingerprint of the admin key (never the key itself) kept in the session. */
async function keyFingerprint(adminKey: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(`nurture-admin-session:${adminKey}`)));
  return [...digest.slice(0, 8)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A verified session: its id, to which CSRF tokens are bound. */
export type Session = { id: string };

/** Starts a session: sets the cookie and returns it. */
export async function startSession(c: Context, config: Config, now: number): Promise<Session> {
  const { SIGNING_SECRET, ADMIN_API_KEY } = config;
  const session = { id: crypto.randomUUID().replaceAll("-", "") };
  const token = await signExpiringToken(SIGNING_SECRET, "session", [session.id, await keyFingerprint(ADMIN_API_KEY)], now + SESSION_TTL_MS);
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    secure: true,
    sameSite: "Strict",
    path: "/",
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
  return session;
}

/** The request's valid session, or null. */
export async function readSession(c: Context, config: Config, now: number): Promise<Session | null> {
  const token = getCookie(c, SESSION_COOKIE);
  if (!token) return null;
  const fields = await verifyExpiringToken(config.SIGNING_SECRET, "session", token, now);
  if (fields?.length !== 2) return null;
  const [id, fingerprint] = fields as [string, string];
  if (fingerprint !== (await keyFingerprint(config.ADMIN_API_KEY))) return null;
  return { id };
}

/** Ends the session (clears the cookie). */
export function endSession(c: Context): void {
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Strict" });
}

/** The CSRF token for forms of this session (valid as long as a session can be). */
export function csrfToken(secret: string, session: Session, now: number): Promise<string> {
  return signExpiringToken(secret, "csrf", [session.id], now + SESSION_TTL_MS);
}

/** Whether a form's CSRF token belongs to this session. */
export async function csrfTokenValid(secret: string, session: Session, token: string, now: number): Promise<boolean> {
  const fields = await verifyExpiringToken(secret, "csrf", token, now);
  return fields?.length === 1 && fields[0] === session.id;
}

/** Whether a state-changing request comes from this site: same `Origin`, or the browser says same-origin. */
export function sameOrigin(c: Context): boolean {
  const origin = c.req.header("origin");
  if (origin) return origin === new URL(c.req.url).origin;
  return c.req.header("sec-fetch-site") === "same-origin";
}

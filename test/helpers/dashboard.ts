/** Drives the dashboard as a browser would: a login cookie, pages, and CSRF-protected form posts. */
import { expect } from "vitest";
import { ADMIN_KEY, type CallOptions } from "./api";
import { fetchWorker } from "./worker";

export const ORIGIN = "https://nurture.test";

/** Like the shared `call`, but redirects are answers to check, not to follow. */
export function call(path: string, options: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.auth !== false) headers.authorization = `Bearer ${ADMIN_KEY}`;
  return fetchWorker(
    new Request(`${ORIGIN}${path}`, { method: options.method ?? "GET", headers, body: options.rawBody, redirect: "manual" }),
  );
}

/** Logs in and returns the session cookie (name=value). */
export async function login(): Promise<string> {
  const res = await call("/admin/login", {
    method: "POST",
    auth: false,
    rawBody: new URLSearchParams({ key: ADMIN_KEY }),
    headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
  });
  expect(res.status).toBe(303);
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

export async function page(path: string, cookie: string) {
  const res = await call(path, { auth: false, headers: { cookie } });
  return { status: res.status, html: await res.text(), res };
}

export const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)![1]!;

export function post(path: string, cookie: string, fields: Record<string, string>, origin = ORIGIN) {
  return call(path, {
    method: "POST",
    auth: false,
    rawBody: new URLSearchParams(fields),
    headers: { cookie, origin, "content-type": "application/x-www-form-urlencoded" },
  });
}

/** The CSRF token a dashboard page gives its islands (`<meta name="csrf-token">`). */
export const islandCsrfOf = (html: string) => /<meta name="csrf-token" content="([^"]+)"/.exec(html)![1]!;

/** Calls the admin API as a dashboard island does: session cookie, `X-CSRF-Token`, this origin; no bearer key. */
export function callAsIsland(path: string, session: { cookie: string; csrf: string; origin?: string }, method = "GET", json?: unknown) {
  return call(path, {
    method,
    auth: false,
    rawBody: json === undefined ? undefined : JSON.stringify(json),
    headers: {
      cookie: session.cookie,
      "x-csrf-token": session.csrf,
      origin: session.origin ?? ORIGIN,
      ...(json === undefined ? {} : { "content-type": "application/json" }),
    },
  });
}

/** Drives the dashboard as a browser would: a login cookie, pages, and CSRF-protected form posts. */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { ADMIN_KEY, type CallOptions } from "./api";

export const ORIGIN = "https://nurture.test";

/** Like the shared `call`, but redirects are answers to check, not to follow. */
export function call(path: string, options: CallOptions = {}): Promise<Response> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.auth !== false) headers.authorization = `Bearer ${ADMIN_KEY}`;
  return exports.default.fetch(
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

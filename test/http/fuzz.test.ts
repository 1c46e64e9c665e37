/**
 * Drives every route the app registers (public, admin API and dashboard) with malformed, deep, huge and unicode
 * bodies, paths and queries. The rules: no answer is a 5xx, and a request that is refused (4xx) writes no row.
 * Inputs come from a seeded generator, so a failure names a case that can be replayed.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { ADMIN_KEY } from "../helpers/api";
import { call, csrfOf, login, ORIGIN, page } from "../helpers/dashboard";

/** A small, seeded PRNG (mulberry32): the same seed gives the same cases on every run. */
function random(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const nested = (depth: number, leaf: unknown = 1): unknown => {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
};
const nestedArray = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

/** Strings a hostile client sends: control characters, lone surrogates, direction overrides, header injections. */
const NASTY_STRINGS = [
  "",
  " ",
  "\u0000",
  "\ud800",
  "\udfff\ud800",
  "\u202e\u202dtxt.exe",
  "😀".repeat(300),
  "a\r\nBcc: victim@example.com",
  "<script>alert(1)</script>",
  "{{ contact.email }}{% raw %}",
  "../../etc/passwd",
  "%00%2F%2e%2e",
  "Bogus/Zone",
  "x".repeat(70_000),
  "'; DROP TABLE contacts; --",
  "ada@example.com",
  "ADA@EXAMPLE.COM ",
  "javascript:alert(1)",
  "http://127.0.0.1/",
];

const NASTY_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1e308,
  -0,
  Number.MAX_SAFE_INTEGER + 2,
  [],
  {},
  [null],
  nested(40),
  { __proto__: { polluted: true } },
  { constructor: { prototype: { x: 1 } } },
  ...NASTY_STRINGS,
];

/** Raw bodies that are not what any route expects. */
const RAW_BODIES: { body: string; type: string }[] = [
  { body: "", type: "application/json" },
  { body: "{", type: "application/json" },
  { body: "null", type: "application/json" },
  { body: "[]", type: "application/json" },
  { body: '"just a string"', type: "application/json" },
  { body: "1e400", type: "application/json" },
  { body: nestedArray(5_000), type: "application/json" },
  { body: JSON.stringify(nested(1_500)), type: "application/json" },
  { body: `{"a":"${"\\ud800".repeat(100)}"}`, type: "application/json" },
  { body: `{"email":"${"a".repeat(900_000)}@example.com"}`, type: "application/json" },
  { body: "a=1&a=2&_csrf=x&key=%ff%fe", type: "application/x-www-form-urlencoded" },
  { body: "\u0000\u0001\u0002", type: "text/plain" },
  { body: "email,first_name\nada@example.com,Ada", type: "text/csv" },
  // Valid outer shapes with a hostile inside, so that the checks behind the first one are reached too.
  { body: JSON.stringify({ email: "fuzz@example.com", name: "x", properties: nested(1_500) }), type: "application/json" },
  {
    body: JSON.stringify({
      site_key: "site_test",
      anonymous_id: "anon_fuzz_0001",
      type: "identify",
      email: "fuzz@example.com",
      traits: nested(1_500),
    }),
    type: "application/json",
  },
  {
    body: JSON.stringify({ email: "fuzz@example.com", attributes: { deep: nested(1_500) }, timezone: "Bogus/Zone" }),
    type: "application/json",
  },
];

/** Field names the API, snippet and forms read, so that nasty values reach the validators and beyond. */
const FIELDS = [
  "email",
  "first_name",
  "name",
  "id",
  "timezone",
  "attributes",
  "traits",
  "properties",
  "tags",
  "consent",
  "value",
  "ts",
  "site_key",
  "anonymous_id",
  "type",
  "event",
  "url",
  "nt",
  "subject",
  "html",
  "trigger",
  "steps",
  "condition",
  "contact",
  "lifecycle_stage",
  "key",
  "_csrf",
];

function fuzzObject(next: () => number): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const count = 1 + Math.floor(next() * 6);
  for (let i = 0; i < count; i++) {
    const field = FIELDS[Math.floor(next() * FIELDS.length)]!;
    body[field] = NASTY_VALUES[Math.floor(next() * NASTY_VALUES.length)];
  }
  // A shape close to valid gets past the first checks: the snippet's keys, a real address.
  if (next() < 0.5) Object.assign(body, { site_key: "site_test", anonymous_id: "anon_fuzz_0001", type: "track", event: "x" });
  if (next() < 0.5) body.email ??= "fuzz@example.com";
  return body;
}

/** What a path parameter can be: a plausible id, or something hostile. */
const PATH_VALUES = ["welcome", "ada@example.com", "%00", "%F0%9F%98%80", "a%2Fb", "x".repeat(3_000), "..", "%ff"];

interface Route {
  method: string;
  path: string;
}

/** Every concrete route the app registers (middleware entries excluded). */
function appRoutes(): Route[] {
  const seen = new Set<string>();
  const routes: Route[] = [];
  for (const r of createApp().routes) {
    if (r.method === "ALL" || r.path.includes("*")) continue;
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    routes.push({ method: r.method, path: r.path });
  }
  return routes;
}

const fill = (path: string, value: string) => path.replace(/:[A-Za-z]+/g, value);

/** A query value as a client would send it; a lone surrogate cannot be encoded, so it goes as the bytes of one. */
function queryValue(text: string): string {
  try {
    return encodeURIComponent(text);
  } catch {
    return "%ED%A0%80";
  }
}

/** Row counts of every table: a refused request must leave them as they were. */
async function tableCounts(): Promise<Record<string, number>> {
  const tables = await env.DB.prepare(
    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'd1_%'",
  ).all<{ name: string }>();
  const counts = await env.DB.batch(tables.results.map((t) => env.DB.prepare(`SELECT count(*) AS n FROM "${t.name}"`)));
  return Object.fromEntries(tables.results.map((t, i) => [t.name, Number((counts[i]!.results[0] as { n: number }).n)]));
}

interface Attempt {
  route: Route;
  url: string;
  headers: Record<string, string>;
  body?: string;
  label: string;
}

function headersFor(route: Route, cookie: string, contentType: string | null): Record<string, string> {
  const headers: Record<string, string> = { origin: route.path === "/v1/collect" ? "https://shop.test" : ORIGIN };
  if (contentType) headers["content-type"] = contentType;
  if (route.path.startsWith("/v1/") && route.path !== "/v1/collect") headers.authorization = `Bearer ${ADMIN_KEY}`;
  if (route.path.startsWith("/admin")) headers.cookie = cookie;
  return headers;
}

function attemptsFor(route: Route, cookie: string, csrf: string, next: () => number): Attempt[] {
  const attempts: Attempt[] = [];
  const hasBody = !["GET", "HEAD", "OPTIONS", "DELETE"].includes(route.method);
  for (const value of PATH_VALUES) {
    const url = `${fill(route.path, value)}?q=${queryValue(NASTY_STRINGS[Math.floor(next() * NASTY_STRINGS.length)]!)}&limit=-1&cursor=%ff&from=x&to=1e999`;
    attempts.push({ route, url, headers: headersFor(route, cookie, null), label: `path ${value.slice(0, 20)}` });
    if (!route.path.includes(":")) break;
  }
  if (!hasBody) return attempts;
  const url = fill(route.path, "fuzz");
  for (const raw of RAW_BODIES) {
    attempts.push({ route, url, headers: headersFor(route, cookie, raw.type), body: raw.body, label: `raw ${raw.body.slice(0, 20)}` });
  }
  for (let i = 0; i < 12; i++) {
    const object = fuzzObject(next);
    const asForm = route.path.startsWith("/admin") && next() < 0.7;
    // Half the dashboard's forms carry the session's real CSRF token, so that the handlers behind the check run too.
    if (asForm && next() < 0.5) object._csrf = csrf;
    const body = asForm
      ? new URLSearchParams(
          Object.entries(object).map(([k, v]): [string, string] => [k, typeof v === "string" ? v : (JSON.stringify(v) ?? "")]),
        ).toString()
      : JSON.stringify(next() < 0.2 ? [object, object] : object);
    const type = asForm ? "application/x-www-form-urlencoded" : "application/json";
    attempts.push({ route, url, headers: headersFor(route, cookie, type), body, label: `object ${body.slice(0, 60)}` });
  }
  return attempts;
}

describe("no request of any shape produces a 5xx, and a refused request writes nothing", () => {
  const routes = appRoutes();

  it("covers the app's routes, public, admin and dashboard", () => {
    const paths = routes.map((r) => `${r.method} ${r.path}`);
    for (const expected of ["POST /v1/collect", "PUT /v1/contacts", "POST /v1/events", "GET /c/:token", "POST /webhooks/resend"]) {
      expect(paths).toContain(expected);
    }
    expect(paths.some((p) => p.startsWith("POST /admin/"))).toBe(true);
  });

  // One test per route keeps a failure's name telling and each test's time bounded.
  for (const [index, route] of routes.entries()) {
    it(`${route.method} ${route.path}`, async () => {
      const cookie = await login();
      const csrf = csrfOf((await page("/admin", cookie)).html);
      const next = random(index + 1);
      const failures: string[] = [];
      for (const attempt of attemptsFor(route, cookie, csrf, next)) {
        const before = await tableCounts();
        const res = await call(attempt.url, { method: attempt.route.method, auth: false, headers: attempt.headers, rawBody: attempt.body });
        await res.arrayBuffer();
        if (res.status >= 500) failures.push(`${res.status} for ${attempt.label}`);
        else if (res.status >= 400) {
          const after = await tableCounts();
          const changed = Object.keys(after).filter((t) => after[t] !== before[t]);
          if (changed.length > 0) failures.push(`${res.status} for ${attempt.label} but wrote ${changed.join(", ")}`);
        }
      }
      expect(failures).toEqual([]);
    }, 120_000);
  }
});

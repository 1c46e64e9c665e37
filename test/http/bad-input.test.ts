import { describe, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../../src/app";
import { type CallOptions, callJson } from "../helpers/api";
import { countRows } from "../helpers/db";

interface BadCase {
  name: string;
  path: string;
  options: CallOptions;
  status: number;
  code: string;
}

const json = (body: unknown): CallOptions => ({ method: "POST", body });
const put = (body: unknown): CallOptions => ({ method: "PUT", body });
const raw = (method: string, rawBody: string, contentType?: string): CallOptions => ({
  method,
  rawBody,
  headers: contentType ? { "content-type": contentType } : {},
});

const cases: BadCase[] = [
  {
    name: "malformed JSON",
    path: "/v1/events",
    options: raw("POST", '{"email": "a@b.c", "name":', "application/json"),
    status: 400,
    code: "invalid_json",
  },
  {
    name: "wrong content type",
    path: "/v1/events",
    options: raw("POST", "email=a@b.c&name=x", "application/x-www-form-urlencoded"),
    status: 415,
    code: "unsupported_media_type",
  },
  { name: "no content type", path: "/v1/contacts", options: raw("PUT", '{"email":"a@b.co"}'), status: 415, code: "unsupported_media_type" },
  {
    name: "empty body",
    path: "/v1/contacts",
    options: { method: "PUT", headers: { "content-type": "application/json" } },
    status: 400,
    code: "invalid_json",
  },
  { name: "missing event name", path: "/v1/events", options: json({ email: "a@example.com" }), status: 422, code: "validation_failed" },
  { name: "missing contact reference", path: "/v1/events", options: json({ name: "x" }), status: 422, code: "validation_failed" },
  {
    name: "wrong type for properties",
    path: "/v1/events",
    options: json({ email: "a@example.com", name: "x", properties: "no" }),
    status: 422,
    code: "validation_failed",
  },
  {
    name: "wrong type for value",
    path: "/v1/events",
    options: json({ email: "a@example.com", name: "x", value: "12" }),
    status: 422,
    code: "validation_failed",
  },
  {
    name: "bad ts",
    path: "/v1/events",
    options: json({ email: "a@example.com", name: "x", ts: "yesterday" }),
    status: 422,
    code: "validation_failed",
  },
  {
    name: "bad email in an event",
    path: "/v1/events",
    options: json({ email: "not-an-email", name: "x" }),
    status: 422,
    code: "validation_failed",
  },
  { name: "empty batch", path: "/v1/events", options: json([]), status: 422, code: "validation_failed" },
  {
    name: "one bad item in a batch",
    path: "/v1/events",
    options: json([{ email: "ok@example.com", name: "x" }, { email: "ok@example.com" }]),
    status: 422,
    code: "validation_failed",
  },
  {
    name: "unknown field",
    path: "/v1/events",
    options: json({ email: "a@example.com", name: "x", colour: "red" }),
    status: 422,
    code: "validation_failed",
  },
  { name: "bad contact email", path: "/v1/contacts", options: put({ email: "nope" }), status: 422, code: "validation_failed" },
  { name: "missing contact email", path: "/v1/contacts", options: put({ first_name: "A" }), status: 422, code: "validation_failed" },
  {
    name: "unknown time zone",
    path: "/v1/contacts",
    options: put({ email: "tz@example.com", timezone: "Mars/Olympus" }),
    status: 422,
    code: "validation_failed",
  },
  {
    name: "bad consent",
    path: "/v1/contacts",
    options: put({ email: "c@example.com", consent: "maybe" }),
    status: 422,
    code: "validation_failed",
  },
  {
    name: "tags not an array",
    path: "/v1/contacts",
    options: put({ email: "t@example.com", tags: "vip" }),
    status: 422,
    code: "validation_failed",
  },
  {
    name: "JSON array as contact",
    path: "/v1/contacts",
    options: put([{ email: "a@example.com" }]),
    status: 422,
    code: "validation_failed",
  },
  {
    name: "oversize body",
    path: "/v1/events",
    options: raw(
      "POST",
      JSON.stringify({ email: "big@example.com", name: "x", properties: { blob: "x".repeat(MAX_BODY_BYTES) } }),
      "application/json",
    ),
    status: 413,
    code: "payload_too_large",
  },
  { name: "unknown route", path: "/v1/nothing-here", options: { method: "GET" }, status: 404, code: "not_found" },
  { name: "wrong method", path: "/v1/events", options: { method: "GET" }, status: 404, code: "not_found" },
  {
    name: "missing admin key",
    path: "/v1/events",
    options: { ...json({ email: "a@example.com", name: "x" }), auth: false },
    status: 401,
    code: "unauthorized",
  },
  {
    name: "wrong admin key",
    path: "/v1/contacts",
    options: { ...put({ email: "a@example.com" }), headers: { authorization: "Bearer test-admin-key-0123456780" } },
    status: 401,
    code: "unauthorized",
  },
  {
    name: "key in the wrong scheme",
    path: "/v1/contacts/x",
    options: { method: "GET", headers: { authorization: "Basic dGVzdA==" } },
    status: 401,
    code: "unauthorized",
  },
];

describe("bad input gets a 4xx JSON error in the SPEC shape and writes nothing", () => {
  it.each(cases)("$name → $status $code", async ({ path, options, status, code }) => {
    const before = { contacts: await countRows("contacts"), events: await countRows("events") };
    const response = await callJson(path, options);
    expect(response.status).toBe(status);
    expect(response.response.headers.get("content-type")).toMatch(/application\/json/);
    expect(response.body.error).toMatchObject({ code, message: expect.any(String) });
    expect(JSON.stringify(response.body)).not.toMatch(/at \w+ \(|\.ts:\d+/);
    if (status === 422) expect(response.body.error.issues.length).toBeGreaterThan(0);
    if (status === 401) expect(response.response.headers.get("www-authenticate")).toContain("Bearer");
    expect({ contacts: await countRows("contacts"), events: await countRows("events") }).toEqual(before);
  });
});

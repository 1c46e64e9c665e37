import { describe, expect, it } from "vitest";
import { ADMIN_KEY, callJson } from "../helpers/api";
import { call, ORIGIN } from "../helpers/dashboard";

const bearer = (key: string, ip: string) =>
  callJson("/v1/messages", { auth: false, headers: { authorization: `Bearer ${key}`, "cf-connecting-ip": ip } });

const loginFrom = (key: string, ip: string) =>
  call("/admin/login", {
    method: "POST",
    auth: false,
    rawBody: new URLSearchParams({ key }),
    headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded", "cf-connecting-ip": ip },
  });

describe("admin authentication throttle", () => {
  it("failed logins and bearer checks are throttled per IP", async () => {
    const attacker = "203.0.113.50";
    for (let i = 0; i < 5; i++) expect((await bearer(`wrong-key-${i}-0123456789`, attacker)).status).toBe(401);
    for (let i = 0; i < 5; i++) expect((await loginFrom(`wrong-key-${i}-0123456789`, attacker)).status).toBe(401);
    // Past ten failures, every attempt is refused before the key is compared: even the right one.
    const limited = await bearer(ADMIN_KEY, attacker);
    expect(limited.status).toBe(429);
    expect(limited.body).toMatchObject({ error: { code: "rate_limited" } });
    expect(limited.response.headers.get("retry-after")).toBe("600");
    const login = await loginFrom(ADMIN_KEY, attacker);
    expect(login.status).toBe(429);
    expect(login.headers.get("set-cookie")).toBeNull();
    // Another client is not affected.
    expect((await bearer(ADMIN_KEY, "203.0.113.51")).status).toBe(200);
    expect((await loginFrom(ADMIN_KEY, "203.0.113.51")).status).toBe(303);
  });

  it("the right key is never counted as a failure", async () => {
    const backend = "198.51.100.20";
    for (let i = 0; i < 15; i++) expect((await bearer(ADMIN_KEY, backend)).status).toBe(200);
    expect((await bearer("wrong-key-0123456789", backend)).status).toBe(401);
    expect((await bearer(ADMIN_KEY, backend)).status).toBe(200);
  });
});

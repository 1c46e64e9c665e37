import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY } from "../helpers/api";

const ORIGIN = "https://nurture.test";

function send(path: string, init: { method?: string; body?: URLSearchParams; headers?: Record<string, string> } = {}) {
  return exports.default.fetch(
    new Request(`${ORIGIN}${path}`, { method: init.method ?? "GET", headers: init.headers, body: init.body, redirect: "manual" }),
  );
}

async function login(): Promise<string> {
  const res = await send("/admin/login", {
    method: "POST",
    body: new URLSearchParams({ key: ADMIN_KEY }),
    headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
  });
  expect(res.status).toBe(303);
  return res.headers.get("set-cookie")?.split(";")[0] ?? "";
}

describe("dashboard library page", () => {
  it("lists the library in the navigation and installs a flow, paused, only with a valid CSRF token", async () => {
    const cookie = await login();
    const listing = await send("/admin/library", { headers: { cookie } });
    const html = await listing.text();
    expect(listing.status).toBe(200);
    expect(html).toContain('href="/admin/library"');
    expect(html).toContain("Welcome series");
    const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1] ?? "";
    const form = { origin: ORIGIN, cookie, "content-type": "application/x-www-form-urlencoded" };

    const forged = await send("/admin/library/welcome-series/install", {
      method: "POST",
      body: new URLSearchParams({ _csrf: "x" }),
      headers: form,
    });
    expect(forged.status).toBe(403);
    expect(await env.DB.prepare("SELECT id FROM flows WHERE id = 'welcome-series'").first()).toBeNull();

    const ok = await send("/admin/library/welcome-series/install", {
      method: "POST",
      body: new URLSearchParams({ _csrf: csrf }),
      headers: form,
    });
    expect(ok.status).toBe(200);
    expect(await env.DB.prepare("SELECT status FROM flows WHERE id = 'welcome-series'").first()).toEqual({ status: "paused" });
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY } from "../helpers/api";
import { fetchWorker } from "../helpers/worker";

const ORIGIN = "https://nurture.test";

function send(path: string, init: { method?: string; body?: URLSearchParams; headers?: Record<string, string> } = {}) {
  return fetchWorker(
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
    // Post/redirect/get: the answer is a redirect to a page that reports the install, so a reload installs nothing.
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/admin/library?installed=welcome-series");
    expect(await env.DB.prepare("SELECT status FROM flows WHERE id = 'welcome-series'").first()).toEqual({ status: "paused" });
    const after = await (await send("/admin/library?installed=welcome-series", { headers: { cookie } })).text();
    expect(after).toContain("Welcome series&quot; as flow welcome-series (paused).");
  });
});

describe("an install that meets edited templates offers keep mine or take the library's", () => {
  async function setup() {
    const cookie = await login();
    const csrf = /name="_csrf" value="([^"]+)"/.exec(await (await send("/admin/library", { headers: { cookie } })).text())?.[1] ?? "";
    const form = { origin: ORIGIN, cookie, "content-type": "application/x-www-form-urlencoded" };
    const install = (onEdited?: string) =>
      send("/admin/library/welcome-series/install", {
        method: "POST",
        body: new URLSearchParams({ _csrf: csrf, ...(onEdited ? { on_edited: onEdited } : {}) }),
        headers: form,
      });
    expect((await install()).status).toBe(303);
    await env.DB.prepare("UPDATE templates SET subject = 'My own subject' WHERE id = 'welcome-1'").run();
    await env.DB.prepare("DELETE FROM flows WHERE id = 'welcome-series'").run();
    return { cookie, install };
  }
  const subject = () => env.DB.prepare("SELECT subject FROM templates WHERE id = 'welcome-1'").first<string>("subject");

  it("the conflict page names the edited template and offers both choices", async () => {
    const { cookie, install } = await setup();
    const refused = await install();
    expect(refused.status).toBe(303);
    expect(refused.headers.get("location")).toBe("/admin/library/welcome-series/conflict");
    const page = await (await send("/admin/library/welcome-series/conflict", { headers: { cookie } })).text();
    expect(page).toContain('<a href="/admin/templates/welcome-1">welcome-1</a>');
    expect(page).toContain('name="on_edited" value="keep"');
    expect(page).toContain('name="on_edited" value="overwrite"');
    expect(page).not.toContain("API");
    expect(await env.DB.prepare("SELECT id FROM flows WHERE id = 'welcome-series'").first()).toBeNull();
  });

  it("keep mine installs the flow and leaves the edit", async () => {
    const { install } = await setup();
    expect((await install("keep")).headers.get("location")).toBe("/admin/library?installed=welcome-series");
    expect(await subject()).toBe("My own subject");
    expect(await env.DB.prepare("SELECT status FROM flows WHERE id = 'welcome-series'").first()).toEqual({ status: "paused" });
  });

  it("take the library's replaces the edit", async () => {
    const { install } = await setup();
    expect((await install("overwrite")).status).toBe(303);
    expect(await subject()).not.toBe("My own subject");
  });
});

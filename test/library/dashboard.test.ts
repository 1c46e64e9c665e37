import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { csrfOf, login, page, post } from "../helpers/dashboard";

describe("dashboard library page", () => {
  it("lists the library in the navigation and installs a flow, paused, only with a valid CSRF token", async () => {
    const cookie = await login();
    const { status, html } = await page("/admin/library", cookie);
    expect(status).toBe(200);
    expect(html).toContain('href="/admin/library"');
    expect(html).toContain("Welcome series");
    const csrf = csrfOf(html);

    const forged = await post("/admin/library/welcome-series/install", cookie, { _csrf: "x" });
    expect(forged.status).toBe(403);
    expect(await env.DB.prepare("SELECT id FROM flows WHERE id = 'welcome-series'").first()).toBeNull();

    const ok = await post("/admin/library/welcome-series/install", cookie, { _csrf: csrf });
    // Post/redirect/get: the answer is a redirect to a page that reports the install, so a reload installs nothing.
    expect(ok.status).toBe(303);
    expect(ok.headers.get("location")).toBe("/admin/library?installed=welcome-series");
    expect(await env.DB.prepare("SELECT status FROM flows WHERE id = 'welcome-series'").first()).toEqual({ status: "paused" });
    const after = (await page("/admin/library?installed=welcome-series", cookie)).html;
    expect(after).toContain("Welcome series&quot; as flow welcome-series (paused).");
  });
});

describe("an install that meets edited templates offers keep mine or take the library's", () => {
  async function setup() {
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/library", cookie)).html);
    const install = (onEdited?: string) =>
      post("/admin/library/welcome-series/install", cookie, { _csrf: csrf, ...(onEdited ? { on_edited: onEdited } : {}) });
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
    const conflict = (await page("/admin/library/welcome-series/conflict", cookie)).html;
    expect(conflict).toContain('<a href="/admin/templates/welcome-1">welcome-1</a>');
    expect(conflict).toContain('name="on_edited" value="keep"');
    expect(conflict).toContain('name="on_edited" value="overwrite"');
    expect(conflict).not.toContain("API");
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

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call, callAsIsland, islandCsrfOf, login, page } from "../helpers/dashboard";

const template = { subject: "Hi {{ contact.first_name }}", html: "<p>Hello</p>" };

async function storedTemplate(id: string) {
  return env.DB.prepare("SELECT id, subject FROM templates WHERE id = ?").bind(id).first<{ id: string; subject: string }>();
}

async function dashboardSession() {
  const cookie = await login();
  const { html } = await page("/admin/templates", cookie);
  return { cookie, csrf: islandCsrfOf(html) };
}

describe("the dashboard's islands call the admin API with the session and its CSRF token", () => {
  it("a dashboard page hands its islands the CSRF token and allows only this origin's scripts", async () => {
    const cookie = await login();
    const { html, res } = await page("/admin/templates", cookie);
    expect(islandCsrfOf(html)).toMatch(/\S{20,}/);
    const csp = res.headers.get("content-security-policy")!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toContain("unsafe-eval");
    expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
  });

  it("reads and writes through /v1 with the cookie and the token, as the bearer key would", async () => {
    const session = await dashboardSession();
    const saved = await callAsIsland("/v1/templates/island-made", session, "PUT", template);
    expect([200, 201]).toContain(saved.status);
    expect(await storedTemplate("island-made")).toMatchObject({ id: "island-made", subject: template.subject });
    const read = await callAsIsland("/v1/templates/island-made", session);
    expect(read.status).toBe(200);
    expect(((await read.json()) as { subject: string }).subject).toBe(template.subject);
  });

  it("the session cookie without its CSRF token is no authorisation, and writes nothing", async () => {
    const session = await dashboardSession();
    const noToken = await callAsIsland("/v1/templates/no-token", { ...session, csrf: "" }, "PUT", template);
    expect(noToken.status).toBe(401);
    expect(((await noToken.json()) as { error: { code: string } }).error.code).toBe("unauthorized");
    expect((await callAsIsland("/v1/flows", { ...session, csrf: "" })).status).toBe(401);
    expect(await storedTemplate("no-token")).toBeNull();
  });

  it("another session's token, or a write from another origin, is refused", async () => {
    const mine = await dashboardSession();
    const theirs = await dashboardSession();
    expect((await callAsIsland("/v1/templates/crossed", { cookie: mine.cookie, csrf: theirs.csrf }, "PUT", template)).status).toBe(401);
    const foreign = await callAsIsland("/v1/templates/foreign", { ...mine, origin: "https://evil.test" }, "PUT", template);
    expect(foreign.status).toBe(401);
    expect(await storedTemplate("crossed")).toBeNull();
    expect(await storedTemplate("foreign")).toBeNull();
  });

  it("a bearer key that is wrong is refused even when a valid session rides along", async () => {
    const session = await dashboardSession();
    const res = await callAsIsland("/v1/flows", session, "GET");
    expect(res.status).toBe(200);
    const wrongKey = await call("/v1/flows", {
      auth: false,
      headers: { cookie: session.cookie, "x-csrf-token": session.csrf, authorization: "Bearer wrong-key" },
    });
    expect(wrongKey.status).toBe(401);
  });
});

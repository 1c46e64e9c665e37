import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { callJson } from "../helpers/api";
import { csrfOf, login, ORIGIN, page, post } from "../helpers/dashboard";
import { fakeResend, providerEnv } from "../helpers/resend";

afterEach(() => vi.restoreAllMocks());

async function saveTemplate(id: string) {
  const res = await callJson(`/v1/templates/${id}`, {
    method: "PUT",
    body: { subject: "Hello {{ contact.first_name | default: 'friend' }}", html: "<p>Hi {{ contact.first_name }}</p>" },
  });
  expect(res.status).toBeLessThan(300);
}

/** A dashboard form post to a Worker whose bindings have a provider (the fake Resend). */
function postWithProvider(path: string, cookie: string, fields: Record<string, string>) {
  return createApp().fetch(
    new Request(`${ORIGIN}${path}`, {
      method: "POST",
      body: new URLSearchParams(fields),
      headers: { cookie, origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
      redirect: "manual",
    }),
    providerEnv(),
    { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
  );
}

describe("the template editor", () => {
  it("mounts the live preview island and renders an unsaved draft into the mail frame", async () => {
    const cookie = await login();
    const editor = await page("/admin/templates/spring-sale", cookie);
    expect(editor.html).toContain('data-island="template-preview"');
    expect(editor.html).toContain('src="/admin/assets/template-preview.js"');
    const frame = await post("/admin/templates/spring-sale/draft", cookie, {
      _csrf: csrfOf(editor.html),
      subject: "Sale",
      html: "<h1>Spring {{ 'sale' | upcase }}</h1>",
    });
    expect(frame.status).toBe(200);
    expect(frame.headers.get("content-security-policy")).toContain("sandbox");
    expect(await frame.text()).toContain("<h1>Spring SALE</h1>");
    // Nothing was saved by previewing.
    expect(await env.DB.prepare("SELECT count(*) AS n FROM templates WHERE id = 'spring-sale'").first("n")).toBe(0);
    const broken = await post("/admin/templates/spring-sale/draft", cookie, { _csrf: csrfOf(editor.html), subject: "x", html: "{% if %}" });
    expect(await broken.text()).toMatch(/html: /);
  });

  it("the preview API renders a draft for a template not saved yet", async () => {
    const res = await callJson("/v1/templates/not-saved/preview", {
      method: "POST",
      body: { template: { subject: "Hi {{ contact.first_name }}", html: "<p>draft</p>" } },
    });
    expect(res.status).toBe(200);
    expect(res.body.html).toContain("draft");
  });

  it("sends a test of the saved template to an address, through the provider", async () => {
    await saveTemplate("spring-sale");
    const requests = fakeResend();
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/templates/spring-sale", cookie)).html);
    const res = await postWithProvider("/admin/templates/spring-sale/test", cookie, { _csrf: csrf, to: "Owner@Shop.example" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toContain("test_to=owner%40shop.example");
    expect(requests.accepted).toHaveLength(1);
    expect(requests.accepted[0]!.to).toEqual(["owner@shop.example"]);
    expect(requests.accepted[0]!.subject).toBe("[Test] Hello Ada");
    const row = await env.DB.prepare("SELECT kind, status, contact_id FROM messages").first();
    expect(row).toEqual({ kind: "test", status: "sent", contact_id: null });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events").first("n")).toBe(0);
    const shown = await page(res.headers.get("location")!, cookie);
    expect(shown.html).toContain("Test sent to owner@shop.example: sent.");
  });

  it("refuses a bad test address, and a template not saved yet, sending nothing", async () => {
    await saveTemplate("spring-sale");
    const requests = fakeResend();
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/templates/spring-sale", cookie)).html);
    const bad = await postWithProvider("/admin/templates/spring-sale/test", cookie, { _csrf: csrf, to: "nobody" });
    expect(bad.status).toBe(303);
    expect((await page(bad.headers.get("location")!, cookie)).html).toContain("Test not sent:");
    expect((await postWithProvider("/admin/templates/unsaved/test", cookie, { _csrf: csrf, to: "me@example.com" })).status).toBe(404);
    expect(requests).toHaveLength(0);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages").first("n")).toBe(0);
  });

  it("POST /v1/templates/:id/test sends one test message", async () => {
    await saveTemplate("spring-sale");
    const res = await callJson("/v1/templates/spring-sale/test", { method: "POST", body: { to: "me@example.com" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ subject: "[Test] Hello Ada", status: "sent" });
    expect((await callJson("/v1/templates/nope/test", { method: "POST", body: { to: "me@example.com" } })).status).toBe(404);
  });
});

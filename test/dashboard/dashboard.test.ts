import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ADMIN_KEY, call as callFollowing, callJson } from "../helpers/api";
import { call, csrfOf, login, ORIGIN, page, post } from "../helpers/dashboard";
import { activeFlow, contactId, track } from "../helpers/flows";
import { event, insertContact, insertFlow, insertMessage, store } from "../reports/seed";

const today = Date.now();

async function seed() {
  await insertFlow("welcome", {
    id: "welcome",
    name: "Welcome series",
    steps: [
      { id: "hello", type: "email", template: "welcome-1" },
      { id: "seen", type: "wait_for", event: "email_opened", timeout: "3d", then: "cta", else: "nudge" },
      { id: "nudge", type: "email", template: "welcome-nudge", next: "cta" },
      { id: "cta", type: "email", template: "welcome-3" },
    ],
  });
  await insertContact("c1", "ada@example.com");
  await insertMessage({ id: "m1", contactId: "c1", flowId: "welcome", stepId: "hello", variant: null });
  await store([event("email_sent", "c1", today, { messageId: "m1" }), event("email_opened", "c1", today + 1, { messageId: "m1" })], today);
}

describe("the dashboard requires logging in with the admin key", () => {
  it("sends visitors without a session to the login form", async () => {
    const res = await call("/admin", { auth: false });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/login");
    expect((await callFollowing("/admin", { auth: false })).url).toBe(`${ORIGIN}/admin/login`);
    expect((await call("/admin/login", { auth: false })).status).toBe(200);
  });

  it("a correct key sets an HttpOnly, Secure, SameSite=Strict session cookie", async () => {
    const res = await call("/admin/login", {
      method: "POST",
      auth: false,
      rawBody: new URLSearchParams({ key: ADMIN_KEY }),
      headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^nurture_admin=/);
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(ADMIN_KEY);
  });

  it("a wrong key, or a login posted from another site, is refused", async () => {
    const wrong = await call("/admin/login", {
      method: "POST",
      auth: false,
      rawBody: new URLSearchParams({ key: "not-the-key-0123456789" }),
      headers: { origin: ORIGIN, "content-type": "application/x-www-form-urlencoded" },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const crossSite = await call("/admin/login", {
      method: "POST",
      auth: false,
      rawBody: new URLSearchParams({ key: ADMIN_KEY }),
      headers: { origin: "https://evil.test", "content-type": "application/x-www-form-urlencoded" },
    });
    expect(crossSite.status).toBe(403);
  });

  it("a forged or tampered cookie is no session", async () => {
    const cookie = await login();
    // The second-to-last character changes (the last may hold only padding bits), to a letter it is not already.
    const tampered = `${cookie.slice(0, -2)}${cookie.at(-2) === "A" ? "B" : "A"}${cookie.slice(-1)}`;
    expect((await page("/admin", tampered)).status).toBe(303);
    expect((await page("/admin", "nurture_admin=abc.def")).status).toBe(303);
  });

  it("the session does not open the bearer-key API, and the bearer key does not open the dashboard", async () => {
    const cookie = await login();
    expect((await call("/v1/stats/overview", { auth: false, headers: { cookie } })).status).toBe(401);
    expect((await call("/admin")).status).toBe(303);
  });

  it("logging out ends the session cookie", async () => {
    const cookie = await login();
    const { html } = await page("/admin", cookie);
    const res = await post("/admin/logout", cookie, { _csrf: csrfOf(html) });
    expect(res.status).toBe(303);
    expect(res.headers.get("set-cookie")).toMatch(/nurture_admin=;.*Max-Age=0/);
  });
});

describe("the overview shows the same numbers as the stats API", () => {
  it("cards carry the overview totals, with SVG charts and the flows list", async () => {
    await seed();
    const cookie = await login();
    const { status, html } = await page("/admin", cookie);
    const { body } = await callJson("/v1/stats/overview");
    expect(status).toBe(200);
    for (const stat of ["sent", "opened", "clicked", "converted", "revenue"]) {
      expect(html).toContain(`data-stat="${stat}" data-value="${body.totals[stat]}"`);
    }
    expect(body.totals.sent).toBe(1);
    expect(html).toContain('<figure class="chart" id="overview-engagement"><figcaption>');
    expect(html).toMatch(/<svg[^>]*aria-label="Sends, opens and clicks per day"/);
    expect(html).toContain('data-flow="welcome"');
    expect(html).not.toMatch(/<script|https?:\/\/cdn/i);
    const { res } = await page("/admin", cookie);
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });
});

describe("a flow page draws the flow's steps with their numbers", () => {
  it("shows each step, the branch jumps, the funnel and the step numbers", async () => {
    await seed();
    const cookie = await login();
    const { status, html } = await page("/admin/flows/welcome", cookie);
    expect(status).toBe(200);
    for (const step of ["hello", "seen", "nudge", "cta"]) expect(html).toContain(`data-step="${step}"`);
    expect(html).toMatch(/sent 1 · open 100.0% · click 0.0%/);
    expect(html).toContain(">then<");
    expect(html).toContain('id="flow-funnel"');
    expect((await page("/admin/flows/nope", cookie)).status).toBe(404);
  });
});

describe("the activate/pause button is CSRF-safe", () => {
  const status = async () => (await env.DB.prepare("SELECT status FROM flows WHERE id = 'welcome'").first<{ status: string }>())!.status;

  it("pauses the flow with a valid token from this origin", async () => {
    await seed();
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/flows", cookie)).html);
    const res = await post("/admin/flows/welcome/status", cookie, { _csrf: csrf, status: "paused", back: "/admin/flows/welcome" });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/flows/welcome");
    expect(await status()).toBe("paused");
  });

  it("refuses a missing or foreign token, another origin, or an off-site redirect", async () => {
    await seed();
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/flows", cookie)).html);
    expect((await post("/admin/flows/welcome/status", cookie, { status: "paused" })).status).toBe(403);
    expect((await post("/admin/flows/welcome/status", cookie, { status: "paused", _csrf: `${csrf}x` })).status).toBe(403);
    const otherSession = await login();
    expect((await post("/admin/flows/welcome/status", otherSession, { status: "paused", _csrf: csrf })).status).toBe(403);
    expect((await post("/admin/flows/welcome/status", cookie, { status: "paused", _csrf: csrf }, "https://evil.test")).status).toBe(403);
    expect(await status()).toBe("active");
    const res = await post("/admin/flows/welcome/status", cookie, { status: "paused", _csrf: csrf, back: "//evil.test/x" });
    expect(res.headers.get("location")).toBe("/admin/flows");
    expect((await post("/admin/flows/welcome/status", cookie, { status: "draft", _csrf: csrf })).status).toBe(400);
  });
});

describe("contacts search and the profile timeline", () => {
  it("finds a contact by email prefix and shows their events and messages", async () => {
    await seed();
    const cookie = await login();
    const results = await page("/admin/contacts?q=ADA", cookie);
    expect(results.html).toContain('href="/admin/contacts/c1"');
    expect((await page("/admin/contacts?q=bob", cookie)).html).toContain("No contact matches");
    const profile = await page("/admin/contacts/c1", cookie);
    expect(profile.html).toContain("email_opened");
    expect(profile.html).toContain('data-kind="message"');
    expect((await page("/admin/contacts/nobody", cookie)).status).toBe(404);
  });
});

describe("the suppression list", () => {
  it("lists suppressed addresses with their reason", async () => {
    await env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES ('bounced@example.com', 'hard_bounce', 0)").run();
    const cookie = await login();
    const { html } = await page("/admin/suppressions", cookie);
    expect(html).toContain("bounced@example.com");
    expect(html).toContain("hard_bounce");
  });
});

describe("the flow page and the contact timeline say why mail was held or not sent, with counts", () => {
  it("counts contacts held by the frequency cap and contacts stopped by consent, and the timeline names the reason", async () => {
    await activeFlow({
      id: "capped",
      name: "Capped",
      trigger: { event: "signed_up" },
      settings: { frequency_cap: { max: 1, per: "1d" } },
      steps: [
        { id: "first", type: "email", template: "cap-1" },
        { id: "second", type: "email", template: "cap-2" },
      ],
    });
    const held = await contactId("held@example.com", { consent: "subscribed" });
    await contactId("pending@example.com", { consent: "pending" });
    await track([
      { email: "held@example.com", name: "signed_up" },
      { email: "pending@example.com", name: "signed_up" },
    ]);
    const cookie = await login();
    const flow = await page("/admin/flows/capped", cookie);
    const why = /<table id="why-not-sent">([\s\S]*?)<\/table>/.exec(flow.html)?.[1] ?? "";
    expect(why).toMatch(/frequency cap[^<]*<\/td><td class="n">1<\/td>/);
    expect(why).toMatch(/Consent: not subscribed[^<]*<\/td><td class="n">1<\/td>/);
    const profile = await page(`/admin/contacts/${held}`, cookie);
    expect(profile.html).toContain("Held before an email: quiet hours or the frequency cap");
  });

  it("a message suppressed at send time shows its reason on the timeline", async () => {
    await insertContact("c9", "gone@example.com");
    await insertMessage({ id: "m9", contactId: "c9", flowId: null, stepId: null, variant: null });
    await env.DB.prepare("UPDATE messages SET status = 'suppressed', reason = 'consent: unsubscribed' WHERE id = 'm9'").run();
    const profile = await page("/admin/contacts/c9", await login());
    expect(profile.html).toContain("Consent: unsubscribed at send time, so no marketing email");
  });
});

describe("flows with the same name are told apart by their ids", () => {
  it("shows the ids of flows whose names repeat, and only theirs", async () => {
    await insertFlow("promo-a", { id: "promo-a", name: "Promo", steps: [] });
    await insertFlow("promo-b", { id: "promo-b", name: "Promo", steps: [] });
    await insertFlow("solo", { id: "solo", name: "Solo", steps: [] });
    const { html } = await page("/admin/flows", await login());
    expect(html).toContain('<span class="muted flow-id"> (promo-a)</span>');
    expect(html).toContain('<span class="muted flow-id"> (promo-b)</span>');
    expect(html).not.toContain("(solo)");
  });
});

describe("a suppression can be lifted from the dashboard", () => {
  it("the Remove button lifts it and says so", async () => {
    await env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES ('back@example.com', 'manual', 0)").run();
    const cookie = await login();
    const list = await page("/admin/suppressions", cookie);
    expect(list.html).not.toContain("/v1/");
    const lifted = await post("/admin/suppressions/lift", cookie, { _csrf: csrfOf(list.html), email: "back@example.com" });
    expect(lifted.status).toBe(303);
    expect(await env.DB.prepare("SELECT email FROM suppressions WHERE email = 'back@example.com'").first()).toBeNull();
    expect((await page(lifted.headers.get("location")!, cookie)).html).toContain("back@example.com is no longer suppressed.");
  });
});

describe("no dashboard input produces a 5xx", () => {
  it("odd queries, paths and bodies answer 2xx–4xx", async () => {
    await seed();
    const cookie = await login();
    const csrf = csrfOf((await page("/admin", cookie)).html);
    const gets = [
      "/admin?from=garbage&to=2026-99-99",
      "/admin?from=2026-11-07&to=2020-01-01",
      "/admin/flows?from[]=x",
      "/admin/flows/%E0%A4%A",
      "/admin/flows/welcome?to=9999-12-31",
      `/admin/contacts?q=${"%".repeat(300)}`,
      "/admin/contacts?q=%00%27%22",
      "/admin/contacts/%27%20OR%201%3D1",
    ];
    for (const path of gets) expect((await page(path, cookie)).status, path).toBeLessThan(500);
    const bodies: [string, BodyInit, string][] = [
      ["/admin/flows/welcome/status", JSON.stringify({ _csrf: csrf, status: "paused" }), "application/json"],
      ["/admin/flows/welcome/status", "%%%&&&===", "application/x-www-form-urlencoded"],
      ["/admin/flows/welcome/status", "--x\r\nbroken", "multipart/form-data; boundary=x"],
      ["/admin/flows/nope/status", new URLSearchParams({ _csrf: csrf, status: "paused" }).toString(), "application/x-www-form-urlencoded"],
      ["/admin/login", "key=", "application/x-www-form-urlencoded"],
      ["/admin/login", "not a form", "text/plain"],
    ];
    for (const [path, body, type] of bodies) {
      const res = await call(path, {
        method: "POST",
        auth: false,
        rawBody: body,
        headers: { cookie, origin: ORIGIN, "content-type": type },
      });
      expect(res.status, `${path} ${type}`).toBeLessThan(500);
    }
  });
});

/** The hosted sign-up page: GET shows the form, POST signs up under the same rules as the snippet's forms. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { activeFlow, enrollmentsOf } from "../helpers/flows";
import { fakeResend, providerEnv } from "../helpers/resend";
import { fakeTurnstile, PASS_TOKEN, turnstileEnv } from "../helpers/turnstile";

const ORIGIN = "https://nurture.test";
const HTML = "text/html,application/xhtml+xml";

afterEach(() => {
  vi.restoreAllMocks();
});

async function request(bindings: Env, init: RequestInit & { headers?: Record<string, string> } = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${ORIGIN}/subscribe`, init), bindings, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** A browser's post of the form, from this site unless `headers` say otherwise. */
function post(bindings: Env, fields: Record<string, string>, headers: Record<string, string> = { origin: ORIGIN }) {
  return request(bindings, {
    method: "POST",
    body: new URLSearchParams(fields),
    headers: { "content-type": "application/x-www-form-urlencoded", accept: HTML, ...headers },
  });
}

const contactByEmail = (email: string) => env.DB.prepare("SELECT * FROM contacts WHERE email = ?").bind(email).first<Record<string, any>>();
const count = (table: string) => env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<number>("n");

async function nothingWritten(): Promise<void> {
  expect(await count("contacts")).toBe(0);
  expect(await count("messages")).toBe(0);
}

describe("GET /subscribe", () => {
  it("names the shop and shows a form that works without JavaScript", async () => {
    const res = await request(env);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("content-security-policy")).not.toContain("script-src");
    const html = await res.text();
    expect(html).toContain("Get emails from Tea Co");
    expect(html).toContain('<form method="post" action="/subscribe">');
    expect(html).toMatch(/<input id="email" name="email" type="email" required/);
    expect(html).toContain('name="first_name"');
    expect(html).toContain("confirm your subscription");
    expect(html).not.toContain("<script");
  });

  it("carries the Turnstile widget, allowed by its CSP, when Turnstile is configured", async () => {
    const res = await request(turnstileEnv());
    expect(res.headers.get("content-security-policy")).toContain("script-src https://challenges.cloudflare.com");
    expect(res.headers.get("content-security-policy")).toContain("frame-src https://challenges.cloudflare.com");
    const html = await res.text();
    expect(html).toContain('<div class="cf-turnstile" data-sitekey="0x4AAAAAAAsite-key"></div>');
    expect(html).toContain('src="https://challenges.cloudflare.com/turnstile/v0/api.js"');
  });
});

describe("POST /subscribe", () => {
  it("makes a pending contact, sends one confirmation email and says to check the inbox", async () => {
    const mail = fakeResend();
    const res = await post(providerEnv(), { email: " Pia@Example.com ", first_name: "Pia" });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Check your inbox");
    expect(await contactByEmail("pia@example.com")).toMatchObject({ consent: "pending", first_name: "Pia" });
    expect(mail.accepted.map((m) => [m.to[0], m.subject])).toEqual([["pia@example.com", "Please confirm your subscription"]]);
    // The same answer for an address that is already known: the page tells a stranger nothing.
    const again = await post(providerEnv(), { email: "pia@example.com" });
    expect(again.status).toBe(200);
    expect(await again.text()).toContain("Check your inbox");
    expect(mail.accepted).toHaveLength(1);
  });

  it("with single opt-in subscribes at once and starts the welcome flow", async () => {
    fakeResend();
    await activeFlow({
      id: "welcome",
      name: "Welcome",
      trigger: { event: "subscribed" },
      steps: [{ id: "hi", type: "email", template: "w1" }],
    });
    const res = await post(providerEnv({ SIGNUP_OPT_IN: "single" }), { email: "solo@example.com" });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("Your first email from us is on its way");
    const contact = await contactByEmail("solo@example.com");
    expect(contact?.consent).toBe("subscribed");
    expect(await enrollmentsOf(contact!.id)).toMatchObject([{ flow_id: "welcome" }]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE kind = 'confirmation'").first("n")).toBe(0);
  });

  it("refuses a post from another site or without an origin, writing nothing", async () => {
    fakeResend();
    const foreign = await post(providerEnv(), { email: "a@example.com" }, { origin: "https://evil.test" });
    expect(foreign.status).toBe(403);
    expect(await foreign.text()).toContain("did not come from this site");
    expect((await post(providerEnv(), { email: "a@example.com" }, {})).status).toBe(403);
    // A browser that sends no Origin but says the post is same-origin is believed.
    expect((await post(providerEnv(), { email: "a@example.com" }, { "sec-fetch-site": "same-origin" })).status).toBe(200);
    expect(await count("contacts")).toBe(1);
  });

  it("bad input shows the form again with the problem (422), or the JSON error to a JSON client; nothing is written", async () => {
    fakeResend();
    const page = await post(providerEnv(), { email: "not-an-email", first_name: '<b>"x"</b>' });
    expect(page.status).toBe(422);
    const html = await page.text();
    expect(html).toContain("Please enter a valid email address");
    expect(html).toContain('value="not-an-email"');
    expect(html).toContain("&#60;b&#62;&#34;x&#34;&#60;/b&#62;");
    const json = await request(providerEnv(), {
      method: "POST",
      body: JSON.stringify({ email: "x" }),
      headers: { "content-type": "application/json", origin: ORIGIN },
    });
    expect(json.status).toBe(422);
    expect(await json.json()).toMatchObject({ error: { code: "validation_failed" } });
    expect((await post(providerEnv(), { email: "a@example.com", first_name: "x".repeat(201) })).status).toBe(422);
    await nothingWritten();
  });

  it("is held to the sign-up limit per IP (the snippet's rule): 10 new addresses an hour", async () => {
    fakeResend();
    const from = { origin: ORIGIN, "cf-connecting-ip": "192.0.2.44" };
    for (let i = 0; i < 10; i++) expect((await post(providerEnv(), { email: `p${i}@example.com` }, from)).status).toBe(200);
    const limited = await post(providerEnv(), { email: "p10@example.com" }, from);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("3600");
    expect(await limited.text()).toContain("Too many requests");
    expect(await contactByEmail("p10@example.com")).toBeNull();
  });

  it("with Turnstile: a missing token is 400, a refused one 403, both writing nothing; a good one signs up", async () => {
    const { verifications } = fakeTurnstile();
    expect((await post(turnstileEnv(), { email: "bot@example.com" })).status).toBe(400);
    const refused = await post(turnstileEnv(), { email: "bot@example.com", "cf-turnstile-response": "forged" });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain("The check failed");
    await nothingWritten();
    const ok = await post(turnstileEnv(), { email: "human@example.com", "cf-turnstile-response": PASS_TOKEN });
    expect(ok.status).toBe(200);
    expect(verifications.map((v) => v.response)).toEqual(["forged", PASS_TOKEN]);
    expect((await contactByEmail("human@example.com"))?.consent).toBe("pending");
  });
});

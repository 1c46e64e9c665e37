/**
 * Sign-up forms through the snippet (`type: "signup"` on /v1/collect): double opt-in by default, single opt-in when
 * the shop sets it, Turnstile when configured, the shared sign-up limits, and nothing written for bad input.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { erasedAddressKey } from "../../src/db/suppressions";
import { type Env, readConfig } from "../../src/env";
import worker from "../../src/index";
import { SNIPPET } from "../../src/tracking/snippet";
import { activeFlow, contactId, enrollmentsOf, messagesOf } from "../helpers/flows";
import { fakeResend, providerEnv } from "../helpers/resend";
import { eventsNamed } from "../helpers/tracking";
import { fakeTurnstile, PASS_TOKEN, TURNSTILE_SECRET, turnstileEnv } from "../helpers/turnstile";

const SHOP = "https://shop.test";
const visitor = { site_key: "site_test", anonymous_id: "anon-0001-signup" };

afterEach(() => {
  vi.restoreAllMocks();
});

/** Posts snippet messages to the Worker running with `bindings`, and waits for what it finishes after answering. */
async function collectWith(bindings: Env, body: unknown, ip?: string): Promise<Response> {
  const ctx = createExecutionContext();
  const headers: Record<string, string> = { origin: SHOP, "content-type": "text/plain", ...(ip ? { "cf-connecting-ip": ip } : {}) };
  const request = new Request("https://nurture.test/v1/collect", { method: "POST", headers, body: JSON.stringify(body) });
  const res = await worker.fetch(request, bindings, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const signup = (email: unknown, extra: Record<string, unknown> = {}) => ({ ...visitor, type: "signup", email, ...extra });
const contactByEmail = (email: string) => env.DB.prepare("SELECT * FROM contacts WHERE email = ?").bind(email).first<Record<string, any>>();
const count = (table: string) => env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<number>("n");
const welcomeFlow = () =>
  activeFlow({ id: "welcome", name: "Welcome", trigger: { event: "subscribed" }, steps: [{ id: "hello", type: "email", template: "w1" }] });

async function nothingWritten(): Promise<void> {
  expect(await count("contacts")).toBe(0);
  expect(await count("events")).toBe(0);
  expect(await count("messages")).toBe(0);
}

describe("a sign-up form, double opt-in (the default)", () => {
  it("creates a pending contact with the allowed fields, and one confirmation email reaches the provider", async () => {
    const mail = fakeResend();
    const form = signup("Nia@Example.com", {
      traits: { first_name: "Nia", last_name: "Ng", company: "Acme", consent: "subscribed", total_spent: 999 },
    });
    expect((await collectWith(providerEnv(), form)).status).toBe(202);
    const contact = await contactByEmail("nia@example.com");
    expect(contact).toMatchObject({ consent: "pending", first_name: "Nia", last_name: "Ng", total_spent: 0 });
    expect(JSON.parse(contact!.attributes)).toEqual({}); // company is not in SNIPPET_TRAITS
    expect(mail.accepted.map((m) => [m.to, m.subject])).toEqual([[["nia@example.com"], "Please confirm your subscription"]]);
    expect(mail.accepted[0]!.html).toMatch(/https:\/\/nurture\.test\/confirm\//);
    // The form's event is recorded; the typing browser is not tied to the address.
    const [event] = (await env.DB.prepare("SELECT name, contact_id, properties FROM events").all<Record<string, any>>()).results;
    expect(event).toMatchObject({ name: "identified", contact_id: null });
    expect(JSON.parse(event!.properties)).toEqual({ signup: true });
    // The same form again that day sends nothing more.
    expect((await collectWith(providerEnv(), form)).status).toBe(202);
    expect(mail.accepted).toHaveLength(1);
  });

  it("a customer who never opted in gets the confirmation, stays none until they confirm, then starts the welcome flow", async () => {
    fakeResend();
    await welcomeFlow();
    const id = await contactId("cus@example.com", { consent: "none", first_name: "Cus" });
    expect((await collectWith(providerEnv(), signup("cus@example.com", { traits: { first_name: "Mallory" } }))).status).toBe(202);
    expect(await contactByEmail("cus@example.com")).toMatchObject({ consent: "none", first_name: "Cus" });
    const confirmation = await env.DB.prepare("SELECT kind, status, html FROM messages WHERE contact_id = ?")
      .bind(id)
      .first<{ kind: string; status: string; html: string }>();
    expect(confirmation).toMatchObject({ kind: "confirmation", status: "sent" });
    const token = /\/confirm\/([^"]+)"/.exec(confirmation!.html)![1]!;
    const ctx = createExecutionContext();
    const confirmed = await worker.fetch(new Request(`https://nurture.test/confirm/${token}`, { method: "POST" }), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(confirmed.status).toBe(200);
    expect((await contactByEmail("cus@example.com"))?.consent).toBe("subscribed");
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "welcome" }]);
  });

  it("someone who unsubscribed is only asked to confirm; an already subscribed contact gets nothing", async () => {
    const mail = fakeResend();
    await contactId("gone@example.com", { consent: "unsubscribed" });
    await contactId("fan@example.com", { consent: "subscribed" });
    const fan = (await contactByEmail("fan@example.com"))!.id;
    const subscribedBefore = (await eventsNamed(fan, "subscribed")).length;
    await collectWith(providerEnv(), signup("gone@example.com"));
    await collectWith(providerEnv(), signup("fan@example.com"));
    expect((await contactByEmail("gone@example.com"))?.consent).toBe("unsubscribed");
    expect(mail.accepted.map((m) => m.to[0])).toEqual(["gone@example.com"]);
    expect(await eventsNamed(fan, "subscribed")).toHaveLength(subscribedBefore);
  });
});

describe("a sign-up form, single opt-in (SIGNUP_OPT_IN=single)", () => {
  const single = () => providerEnv({ SIGNUP_OPT_IN: "single" });

  it("subscribes a new address at once: no confirmation, `subscribed` emitted once, the welcome flow starts", async () => {
    const mail = fakeResend();
    await welcomeFlow();
    expect((await collectWith(single(), signup("new@example.com", { traits: { first_name: "Neo" } }))).status).toBe(202);
    const contact = await contactByEmail("new@example.com");
    expect(contact).toMatchObject({ consent: "subscribed", first_name: "Neo" });
    expect(await eventsNamed(contact!.id, "subscribed")).toHaveLength(1);
    expect(await enrollmentsOf(contact!.id)).toMatchObject([{ flow_id: "welcome", status: "completed" }]);
    expect((await messagesOf(contact!.id)).map((m) => [m.kind, m.template_id])).toEqual([["marketing", "w1"]]);
    expect(mail.accepted.filter((m) => m.subject === "Please confirm your subscription")).toEqual([]);
  });

  it("subscribes a customer who never opted in, but an unsubscribed or erased address still has to confirm", async () => {
    fakeResend();
    await contactId("cus@example.com", { consent: "none" });
    await contactId("gone@example.com", { consent: "unsubscribed" });
    await env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES (?, 'erased', 0)")
      .bind(await erasedAddressKey(env.SIGNING_SECRET!, "erased@example.com"))
      .run();
    for (const email of ["cus@example.com", "gone@example.com", "erased@example.com"]) {
      expect((await collectWith(single(), signup(email))).status).toBe(202);
    }
    expect((await contactByEmail("cus@example.com"))?.consent).toBe("subscribed");
    expect((await contactByEmail("gone@example.com"))?.consent).toBe("unsubscribed");
    expect((await contactByEmail("erased@example.com"))?.consent).toBe("pending");
    const confirmations = await env.DB.prepare("SELECT to_email FROM messages WHERE kind = 'confirmation' ORDER BY to_email").all();
    expect(confirmations.results).toEqual([{ to_email: "erased@example.com" }, { to_email: "gone@example.com" }]);
  });
});

describe("sign-up limits", () => {
  it("one IP can sign up at most 10 addresses an hour; an address at most 10 times, whatever the IP", async () => {
    fakeResend();
    for (let i = 0; i < 10; i++) expect((await collectWith(providerEnv(), signup(`list${i}@example.com`), "192.0.2.1")).status).toBe(202);
    const limited = await collectWith(providerEnv(), signup("list10@example.com"), "192.0.2.1");
    expect(limited.status).toBe(429);
    expect(await limited.json()).toMatchObject({ error: { code: "rate_limited" } });
    expect(await contactByEmail("list10@example.com")).toBeNull();
    expect(await count("messages")).toBe(10);
    for (let i = 0; i < 10; i++)
      expect((await collectWith(providerEnv(), signup("target@example.com"), `198.51.100.${i}`)).status).toBe(202);
    expect((await collectWith(providerEnv(), signup("target@example.com"), "198.51.100.99")).status).toBe(429);
  });
});

describe("Turnstile on sign-ups", () => {
  it("a signup whose token Cloudflare accepts goes through; the secret, token and client IP were verified", async () => {
    const { verifications, mail } = fakeTurnstile();
    const res = await collectWith(turnstileEnv(), signup("human@example.com", { turnstile_token: PASS_TOKEN }), "203.0.113.9");
    expect(res.status).toBe(202);
    expect(verifications).toEqual([{ secret: TURNSTILE_SECRET, response: PASS_TOKEN, remoteip: "203.0.113.9" }]);
    expect((await contactByEmail("human@example.com"))?.consent).toBe("pending");
    expect(mail.accepted).toHaveLength(1);
  });

  it("a missing token is 400, a refused one 403, an unreachable siteverify 403; none writes anything", async () => {
    const { verifications } = fakeTurnstile();
    const missing = await collectWith(turnstileEnv(), signup("bot@example.com"));
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ error: { code: "turnstile_required" } });
    expect(verifications).toEqual([]);
    const refused = await collectWith(turnstileEnv(), signup("bot@example.com", { turnstile_token: "forged" }));
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ error: { code: "turnstile_failed" } });
    expect(verifications).toHaveLength(1);
    await nothingWritten();
    vi.restoreAllMocks();
    fakeTurnstile("down");
    expect((await collectWith(turnstileEnv(), signup("bot@example.com", { turnstile_token: PASS_TOKEN }))).status).toBe(403);
    await nothingWritten();
  });

  it("page views and tracks need no token", async () => {
    fakeTurnstile();
    expect((await collectWith(turnstileEnv(), { ...visitor, type: "page" })).status).toBe(202);
    expect(await count("events")).toBe(1);
  });
});

describe("bad sign-up input", () => {
  it("a signup without an email, with a bad one or with unknown fields is 422 and writes nothing", async () => {
    fakeResend();
    for (const body of [signup(undefined), signup("not-an-email"), signup("a@example.com", { admin: true }), signup(["a@example.com"])]) {
      const res = await collectWith(providerEnv(), body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(await res.json()).toMatchObject({ error: { code: "validation_failed" } });
    }
    await nothingWritten();
  });
});

describe("the snippet's sign-up form support", () => {
  it("captures data-nurture-signup forms and stays under 2 KB gzipped", async () => {
    expect(SNIPPET).toContain("data-nurture-signup");
    expect(SNIPPET).toContain("cf-turnstile-response");
    const gzipped = await new Response(new Blob([SNIPPET]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();
    expect(gzipped.byteLength).toBeLessThanOrEqual(2048);
  });

  it("configuration: single or double opt-in only, and a Turnstile secret needs its site key", () => {
    expect(readConfig({ ...env }).SIGNUP_OPT_IN).toBe("double");
    expect(readConfig({ ...env, SIGNUP_OPT_IN: "single" }).SIGNUP_OPT_IN).toBe("single");
    expect(() => readConfig({ ...env, SIGNUP_OPT_IN: "none" })).toThrow(/SIGNUP_OPT_IN/);
    expect(() => readConfig({ ...env, TURNSTILE_SECRET_KEY: TURNSTILE_SECRET })).toThrow(/TURNSTILE_SITE_KEY/);
  });
});

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app";
import { callJson } from "../helpers/api";
import { csrfOf, login, ORIGIN, page, post } from "../helpers/dashboard";
import { contactId, createTemplates, track } from "../helpers/flows";
import { fakeResend, providerEnv } from "../helpers/resend";

afterEach(() => vi.restoreAllMocks());

/** A draft (never activated) flow: every email kind the test send covers, and a goal and branch for the simulation. */
const launch = {
  name: "Launch",
  trigger: { event: "signup" },
  goal: { event: "order_placed" },
  steps: [
    {
      id: "hello",
      type: "email",
      template: "l-hello",
      variants: [
        { subject: "Hi {{ contact.first_name }}", weight: 1 },
        { template: "l-hello-long", weight: 1 },
      ],
    },
    { id: "rep", type: "notify", to: "rep@example.com", template: "l-rep" },
    { id: "pause", type: "wait", for: "1h" },
    { id: "vip", type: "branch", if: { tag: "vip" }, then: "vip_mail", else: "done" },
    { id: "vip_mail", type: "email", template: "l-vip" },
    { id: "done", type: "exit" },
  ],
};

async function draftFlow(id: string, definition: Record<string, unknown> = launch) {
  await createTemplates("l-hello", "l-hello-long", "l-rep", "l-vip");
  const res = await callJson(`/v1/flows/${id}`, { method: "PUT", body: definition });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  expect(res.body.status).toBe("draft");
}

async function rowCounts() {
  const n = async (table: string) => (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())?.n;
  return { messages: await n("messages"), enrollments: await n("enrollments"), events: await n("events"), contacts: await n("contacts") };
}

const text = (html: string) => html.replace(/<[^>]+>/g, "").replace(/\s+/g, " ");

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

describe("the flow page's test send", () => {
  it("sends every email of a draft flow to the dev mailbox as tests and lists each with its link", async () => {
    await draftFlow("launch");
    await contactId("ada@example.com", { first_name: "Grace" });
    const cookie = await login();
    const flowPage = await page("/admin/flows/launch", cookie);
    expect(flowPage.status).toBe(200);
    expect(flowPage.html).toContain('action="/admin/flows/launch/test"');
    expect(flowPage.html).toContain('action="/admin/flows/launch/simulate"');

    const res = await post("/admin/flows/launch/test", cookie, {
      _csrf: csrfOf(flowPage.html),
      to: "Me@Example.com",
      contact: "ada@example.com",
    });
    expect(res.status).toBe(200);
    const html = await res.text();
    const stored = await env.DB.prepare("SELECT id, kind, to_email, step_id, variant, subject, status FROM messages ORDER BY due_at").all<{
      id: string;
      kind: string;
      to_email: string;
      step_id: string;
      variant: string | null;
      subject: string;
      status: string;
    }>();
    expect(stored.results.map((m) => [m.kind, m.to_email, m.step_id, m.variant, m.subject, m.status])).toEqual([
      ["test", "me@example.com", "hello", "l-hello#1", "[Test] Hi Grace", "sent"],
      ["test", "me@example.com", "hello", "l-hello-long", "[Test] Subject l-hello-long", "sent"],
      ["test", "me@example.com", "rep", null, "[Test] Subject l-rep", "sent"],
      ["test", "me@example.com", "vip_mail", null, "[Test] Subject l-vip", "sent"],
    ]);
    expect(text(html)).toContain("4 test emails to Me@Example.com");
    for (const m of stored.results) {
      expect(html).toMatch(new RegExp(`<tr data-message="${m.id}">.*?<a href="/admin/mailbox/${m.id}">\\[Test\\] [^<]+</a>.*?sent`, "s"));
    }
    expect(html).toMatch(/<tr data-message="[^"]+"><td>hello <span class="muted">email<\/span><\/td><td>l-hello#1<\/td>/);
    // The link opens the message in the dev mailbox.
    const opened = await page(`/admin/mailbox/${stored.results[0]?.id}`, cookie);
    expect(opened.status).toBe(200);
    expect(opened.html).toContain("[Test] Hi Grace");
  });

  it("with a provider, the tests reach it and the page links to no mailbox", async () => {
    await draftFlow("launch");
    const cookie = await login();
    const requests = fakeResend();
    const res = await postWithProvider("/admin/flows/launch/test", cookie, {
      _csrf: csrfOf((await page("/admin/flows/launch", cookie)).html),
      to: "me@example.com",
    });
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(requests.accepted.map((e) => `${e.to[0]} ${e.subject} ${e.headers?.["X-Nurture-Test"]}`)).toEqual([
      "me@example.com [Test] Hi Ada launch",
      "me@example.com [Test] Subject l-hello-long launch",
      "me@example.com [Test] Subject l-rep launch",
      "me@example.com [Test] Subject l-vip launch",
    ]);
    expect(html).not.toContain("/admin/mailbox/");
    expect(html.match(/<tr data-message=/g)).toHaveLength(4);
  });

  it("shows problems next to the field with a 4xx and sends nothing; a forged CSRF token is refused", async () => {
    await draftFlow("launch");
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/flows/launch", cookie)).html);

    const forged = await post("/admin/flows/launch/test", cookie, { _csrf: "forged", to: "me@example.com" });
    expect(forged.status).toBe(403);

    const bad = await post("/admin/flows/launch/test", cookie, { _csrf: csrf, to: "not an address" });
    expect(bad.status).toBe(422);
    const badHtml = await bad.text();
    expect(badHtml).toMatch(/name="to" value="not an address"[^>]*\/?>\s*<span class="error" data-problem="to">/);

    const nobody = await post("/admin/flows/launch/test", cookie, { _csrf: csrf, to: "me@example.com", contact: "ghost@example.com" });
    expect(nobody.status).toBe(404);
    expect(await nobody.text()).toContain('data-problem="contact"> No contact ghost@example.com</span>');

    await env.DB.prepare("DELETE FROM templates WHERE id = 'l-rep'").run();
    const missing = await post("/admin/flows/launch/test", cookie, { _csrf: csrf, to: "me@example.com" });
    expect(missing.status).toBe(422);
    expect(text(await missing.text())).toContain("Step rep uses template l-rep, which does not exist");

    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages").first("n")).toBe(0);
  });
});

describe("the flow page's simulation", () => {
  it("shows for a draft flow the numbers the simulate API gives for the same history, and writes nothing", async () => {
    await draftFlow("launch");
    const people = [
      { email: "plain@example.com", fields: { first_name: "Pia" }, events: ["signup"] },
      { email: "vip@example.com", fields: { first_name: "Vic", tags: ["vip"] }, events: ["signup"] },
      { email: "buyer@example.com", fields: { first_name: "Bo" }, events: ["signup", "order_placed"] },
      { email: "browser@example.com", fields: { first_name: "Bri" }, events: ["page_viewed"] },
    ];
    for (const p of people) {
      await contactId(p.email, p.fields);
      await track(p.events.map((name) => ({ email: p.email, name })));
    }
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/flows/launch", cookie)).html);
    const before = await rowCounts();

    const res = await post("/admin/flows/launch/simulate", cookie, { _csrf: csrf, days: "1" });
    expect(res.status).toBe(200);
    const html = await res.text();
    const api = await callJson("/v1/flows/launch/simulate", { method: "POST", body: { days: 1 } });
    expect(api.status).toBe(200);
    const sim = api.body;
    // The buyer's order is its goal during the wait; the other two are still waiting when the window ends.
    expect([sim.entered, sim.goal_reached, sim.still_active]).toEqual([3, 1, 2]);

    expect(html).toContain(`data-entered="${sim.entered}" data-goal-reached="${sim.goal_reached}"`);
    expect(html).toMatch(new RegExp(`<tr data-total="goal_reached"><th>Goal reached</th><td class="n">${sim.goal_reached}</td>`));
    for (const s of sim.steps as { id: string; reached: number; emails: number }[]) {
      expect(html).toContain(`<tr data-step="${s.id}" data-reached="${s.reached}" data-emails="${s.emails}">`);
    }
    for (const [reason, n] of Object.entries(sim.ended)) expect(html).toContain(`<tr data-reason="${reason}" data-count="${n}">`);
    expect(sim.ended).toEqual({ goal: 1 });
    expect(html).not.toContain('id="simulation-truncated"');
    for (const sample of sim.samples as { contact_id: string; email: string; emails: { subject: string }[] }[]) {
      expect(html).toContain(`data-contact="${sample.contact_id}"`);
      expect(html).toContain(sample.email);
      for (const e of sample.emails) expect(html).toContain(e.subject);
    }
    expect(html).not.toContain("{{");

    expect(await rowCounts()).toEqual(before);
    expect((await callJson("/v1/flows/launch")).body.status).toBe("draft");
  });

  it("refuses bad days and an unreplayable trigger with a 4xx next to the field, and a forged CSRF token", async () => {
    await draftFlow("launch");
    await draftFlow("winback", {
      name: "Win back",
      trigger: { inactive_for: "90d" },
      steps: [{ id: "offer", type: "email", template: "l-vip" }],
    });
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/flows/launch", cookie)).html);
    for (const days of ["0", "31", "two", ""]) {
      const res = await post("/admin/flows/launch/simulate", cookie, { _csrf: csrf, days });
      expect(res.status, days).toBe(422);
      expect(await res.text()).toContain('<span class="error" data-problem="days"> Days must be a whole number from 1 to 30</span>');
    }
    const unsupported = await post("/admin/flows/winback/simulate", cookie, { _csrf: csrf, days: "7" });
    expect(unsupported.status).toBe(422);
    expect(text(await unsupported.text())).toContain("Only event and attribute_changed triggers can be simulated");
    const forged = await post("/admin/flows/launch/simulate", cookie, { _csrf: "forged", days: "7" });
    expect(forged.status).toBe(403);
    expect((await post("/admin/flows/nope/simulate", cookie, { _csrf: csrf, days: "7" })).status).toBe(404);
  });
});

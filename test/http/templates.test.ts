import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { callJson } from "../helpers/api";
import { login, page } from "../helpers/dashboard";
import { activeFlow, contactId } from "../helpers/flows";
import { fakeResend } from "../helpers/resend";

afterEach(() => {
  vi.restoreAllMocks();
});

const welcome = {
  subject: "Welcome, {{ contact.first_name | default: 'friend' }}",
  html: '<html><body><h1>Hi {{ contact.first_name }}</h1><a href="https://shop.test/start">Start</a></body></html>',
  preheader: "Your first steps",
};

describe("templates", () => {
  it("are created, read, replaced and deleted", async () => {
    const created = await callJson("/v1/templates/welcome-1", { method: "PUT", body: welcome });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: "welcome-1", subject: welcome.subject, text: null, from_library: false });
    const replaced = await callJson("/v1/templates/welcome-1", { method: "PUT", body: { ...welcome, subject: "Hello" } });
    expect(replaced.status).toBe(200);
    expect((await callJson("/v1/templates/welcome-1")).body.subject).toBe("Hello");
    expect((await callJson("/v1/templates")).body.templates.map((t: { id: string }) => t.id)).toEqual(["welcome-1"]);
    expect((await callJson("/v1/templates/welcome-1", { method: "DELETE" })).status).toBe(204);
    expect((await callJson("/v1/templates/welcome-1")).status).toBe(404);
    expect((await callJson("/v1/templates/welcome-1", { method: "DELETE" })).status).toBe(404);
  });

  it("answer 422 listing every field whose Liquid does not parse, and store nothing", async () => {
    const res = await callJson("/v1/templates/broken", {
      method: "PUT",
      body: { subject: "Hi {{ contact.first_name", html: "{% if x %}never closed", text: "fine {{ contact.email }}" },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("invalid_template");
    expect(res.body.error.issues.map((i: { path: string[] }) => i.path[0])).toEqual(["subject", "html"]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM templates").first("n")).toBe(0);
  });

  it("render missing contact fields as empty rather than failing", async () => {
    await callJson("/v1/templates/t", { method: "PUT", body: { subject: "Hi {{ contact.attributes.nickname }}!", html: "<p>x</p>" } });
    const preview = await callJson("/v1/templates/t/preview", { method: "POST", body: {} });
    expect(preview.body.subject).toBe("Hi !");
  });

  it("preview exactly as sent: for a contact, with tracked links, pixel, preheader, footer and headers", async () => {
    await callJson("/v1/templates/welcome-1", { method: "PUT", body: welcome });
    await contactId("grace@example.com", { first_name: "Grace" });
    const res = await callJson("/v1/templates/welcome-1/preview", { method: "POST", body: { contact: "grace@example.com" } });
    expect(res.status).toBe(200);
    expect(res.body.subject).toBe("Welcome, Grace");
    expect(res.body.html).toContain("<h1>Hi Grace</h1>");
    expect(res.body.html).toMatch(/<body><div style="display:none[^"]*">Your first steps<\/div>/);
    expect(res.body.html).toContain('href="https://nurture.test/c/');
    expect(res.body.html).toContain('src="https://nurture.test/o/');
    expect(res.body.links).toEqual(["https://shop.test/start"]);
    expect(res.body.text).toContain("Hi Grace");
    expect(res.body.text).not.toContain("Your first steps");
    expect(res.body.headers["List-Unsubscribe-Post"]).toBe("List-Unsubscribe=One-Click");
  });

  it("preview unsaved content with sample data, and 404 an unknown template or contact", async () => {
    const res = await callJson("/v1/templates/draft/preview", {
      method: "POST",
      body: {
        template: {
          subject: "{{ event.properties.items.size }} items",
          html: "{% for i in event.properties.items %}{{ i.name }};{% endfor %}",
        },
      },
    });
    expect(res.status).toBe(200);
    expect(res.body.subject).toBe("2 items");
    expect(res.body.html).toContain("Green tea;Teapot;");
    expect((await callJson("/v1/templates/nope/preview", { method: "POST", body: {} })).status).toBe(404);
    await callJson("/v1/templates/t", { method: "PUT", body: welcome });
    expect((await callJson("/v1/templates/t/preview", { method: "POST", body: { contact: "who@example.com" } })).status).toBe(404);
  });
});

describe("POST /v1/flows/:id/test", () => {
  it("sends every email of the flow, in order, to the test address, and keeps them out of stats", async () => {
    await activeFlow({
      id: "onboarding",
      name: "Onboarding",
      trigger: { event: "subscribed" },
      steps: [
        { id: "one", type: "email", template: "o1" },
        { id: "wait", type: "wait", for: "2d" },
        {
          id: "two",
          type: "email",
          variants: [
            { template: "o2a", weight: 1 },
            { template: "o2b", weight: 1 },
          ],
        },
      ],
    });
    const res = await callJson("/v1/flows/onboarding/test", { method: "POST", body: { to: "Me@Example.com" } });
    expect(res.status).toBe(200);
    expect(
      res.body.messages.map((m: { step_id: string; template_id: string; status: string }) => `${m.step_id}:${m.template_id}:${m.status}`),
    ).toEqual(["one:o1:sent", "two:o2a:sent", "two:o2b:sent"]);
    expect(res.body.messages[0].subject).toBe("[Test] Subject o1");
    const rows = await env.DB.prepare("SELECT kind, to_email, contact_id FROM messages ORDER BY due_at").all();
    expect(rows.results).toEqual([
      { kind: "test", to_email: "me@example.com", contact_id: null },
      { kind: "test", to_email: "me@example.com", contact_id: null },
      { kind: "test", to_email: "me@example.com", contact_id: null },
    ]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events").first("n")).toBe(0);
    const stats = await callJson("/v1/flows/onboarding/stats");
    expect(stats.body.totals.sent).toBe(0);
  });

  it("covers every A/B variant (templates and subjects) and every notify email, marked as tests, linked in the dev mailbox", async () => {
    await activeFlow({
      id: "coverage",
      name: "Coverage",
      trigger: { event: "signup" },
      steps: [
        {
          id: "hello",
          type: "email",
          template: "c-hello",
          variants: [
            { subject: "Hi {{ contact.first_name }}", weight: 1 },
            { subject: "Welcome aboard", weight: 1 },
            { template: "c-hello-long", weight: 1 },
          ],
        },
        { id: "rep", type: "notify", to: "rep@example.com", template: "c-rep" },
        {
          id: "pick",
          type: "split",
          paths: [
            { weight: 1, next: "left" },
            { weight: 1, next: "right" },
          ],
        },
        { id: "left", type: "email", template: "c-left", next: "owner" },
        { id: "right", type: "email", template: "c-right" },
        { id: "owner", type: "notify", to_attribute: "owner_email", template: "c-owner" },
      ],
    });
    const res = await callJson("/v1/flows/coverage/test", { method: "POST", body: { to: "me@example.com" } });
    expect(res.status).toBe(200);
    expect(
      res.body.messages.map((m: Record<string, string | null>) => [m.step_id, m.step_type, m.variant, m.template_id, m.subject, m.status]),
    ).toEqual([
      ["hello", "email", "c-hello#1", "c-hello", "[Test] Hi Ada", "sent"],
      ["hello", "email", "c-hello#2", "c-hello", "[Test] Welcome aboard", "sent"],
      ["hello", "email", "c-hello-long", "c-hello-long", "[Test] Subject c-hello-long", "sent"],
      ["rep", "notify", null, "c-rep", "[Test] Subject c-rep", "sent"],
      ["left", "email", null, "c-left", "[Test] Subject c-left", "sent"],
      ["right", "email", null, "c-right", "[Test] Subject c-right", "sent"],
      ["owner", "notify", null, "c-owner", "[Test] Subject c-owner", "sent"],
    ]);
    const stored = await env.DB.prepare("SELECT id, to_email, headers, variant FROM messages ORDER BY due_at").all<{
      id: string;
      to_email: string;
      headers: string;
      variant: string | null;
    }>();
    expect(stored.results.map((r) => r.to_email)).toEqual(Array(7).fill("me@example.com"));
    expect(stored.results.map((r) => JSON.parse(r.headers)["X-Nurture-Test"])).toEqual(Array(7).fill("coverage"));
    // Each item links to its message in the dev mailbox, and the link opens it there.
    const cookie = await login();
    for (const [i, m] of res.body.messages.entries()) {
      expect(m.mailbox_url).toBe(`https://nurture.test/admin/mailbox/${stored.results[i]?.id}`);
    }
    const opened = await page(new URL(res.body.messages[1].mailbox_url).pathname, cookie);
    expect(opened.status).toBe(200);
    expect(opened.html).toContain("[Test] Welcome aboard");
  });

  it("answers 422 and sends nothing when a notify step's template is missing", async () => {
    await activeFlow({
      id: "missing",
      name: "Missing",
      trigger: { event: "signup" },
      steps: [
        { id: "one", type: "email", template: "m1" },
        { id: "two", type: "notify", to: "rep@example.com", template: "m2" },
      ],
    });
    await env.DB.prepare("DELETE FROM templates WHERE id = 'm2'").run();
    const res = await callJson("/v1/flows/missing/test", { method: "POST", body: { to: "me@example.com" } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("unknown_template");
    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages").first("n")).toBe(0);
  });

  it("lands in the dev mailbox when no provider is configured", async () => {
    const requests = fakeResend();
    await activeFlow({ id: "f", name: "F", trigger: { event: "x" }, steps: [{ id: "one", type: "email", template: "o1" }] });
    // The Worker's own bindings have no RESEND_API_KEY, so this send lands in the dev mailbox, not the fake.
    await callJson("/v1/flows/f/test", { method: "POST", body: { to: "me@example.com" } });
    expect(requests).toHaveLength(0);
    expect(await env.DB.prepare("SELECT provider_id FROM messages").first("provider_id")).toMatch(/^dev_test_/);
  });

  it("404s an unknown flow and 422s a bad address", async () => {
    expect((await callJson("/v1/flows/nope/test", { method: "POST", body: { to: "me@example.com" } })).status).toBe(404);
    await activeFlow({ id: "f", name: "F", trigger: { event: "x" }, steps: [{ id: "one", type: "email", template: "o1" }] });
    expect((await callJson("/v1/flows/f/test", { method: "POST", body: { to: "not-an-email" } })).status).toBe(422);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages").first("n")).toBe(0);
  });
});

describe("POST /v1/flows/:id/test within D1's limits", () => {
  it("answers 422 for an email that renders over the size cap (too_large), and writes nothing", async () => {
    await activeFlow({ id: "big", name: "Big", trigger: { event: "x" }, steps: [{ id: "one", type: "email", template: "big" }] });
    // 30,000 paragraphs of 40 bytes: 1.2 MB, over the 1 MiB cap.
    await env.DB.prepare("UPDATE templates SET html = ?, text = 'short' WHERE id = 'big'")
      .bind("<html><body>{% for i in (1..30000) %}<p>lorem ipsum dolor sit amet {{ i }}</p>{% endfor %}</body></html>")
      .run();
    const res = await callJson("/v1/flows/big/test", { method: "POST", body: { to: "me@example.com" } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("unsendable");
    expect(res.body.error.message).toMatch(/too_large/);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages").first("n")).toBe(0);
  });
});

describe("GET /v1/messages", () => {
  it("lists the outbox with status, attempts, provider id and reason, filtered and paged", async () => {
    await activeFlow({ id: "f", name: "F", trigger: { event: "x" }, steps: [{ id: "one", type: "email", template: "o1" }] });
    const ids = [];
    for (const email of ["a@example.com", "b@example.com", "c@example.com"]) {
      ids.push(await contactId(email));
      await callJson("/v1/events", { method: "POST", body: { email, name: "x" } });
    }
    await env.DB.prepare("UPDATE messages SET status = 'failed', reason = '422 validation_error' WHERE contact_id = ?").bind(ids[2]).run();
    const all = await callJson("/v1/messages?flow=f&limit=2");
    expect(all.body.messages).toHaveLength(2);
    expect(all.body.messages[0]).toMatchObject({ flow_id: "f", step_id: "one", template_id: "o1", kind: "marketing", attempts: 1 });
    const rest = await callJson(`/v1/messages?flow=f&limit=2&after=${all.body.next_cursor}`);
    expect(rest.body.messages).toHaveLength(1);
    expect(rest.body.next_cursor).toBeNull();
    expect(new Set([...all.body.messages, ...rest.body.messages].map((m: { id: string }) => m.id)).size).toBe(3);
    const failed = await callJson("/v1/messages?status=failed");
    expect(failed.body.messages).toMatchObject([{ contact_id: ids[2], status: "failed", reason: "422 validation_error" }]);
    const forB = await callJson("/v1/messages?contact=b@example.com");
    expect(forB.body.messages).toMatchObject([{ to: "b@example.com", status: "sent" }]);
    expect(forB.body.messages[0].provider_id).toMatch(/^dev_/);
    expect((await callJson("/v1/messages?contact=nobody@example.com")).status).toBe(404);
    expect((await callJson("/v1/messages?status=lost")).status).toBe(422);
    expect((await callJson("/v1/messages?after=garbage")).status).toBe(422);
  });
});

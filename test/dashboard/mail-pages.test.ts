import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliverDue } from "../../src/pipeline/pipeline";
import { callJson } from "../helpers/api";
import { csrfOf, login, page, post } from "../helpers/dashboard";
import { activeFlow, contactId, track } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";

describe("the templates pages", () => {
  it("list templates and preview one rendered as sent, for the sample or a named contact", async () => {
    await callJson("/v1/templates/welcome-1", {
      method: "PUT",
      body: {
        subject: "Hi {{ contact.first_name }}",
        html: '<body><p>Hello {{ contact.first_name }}</p><a href="https://shop.test">Shop</a></body>',
      },
    });
    await contactId("grace@example.com", { first_name: "Grace" });
    const cookie = await login();
    const list = await page("/admin/templates", cookie);
    expect(list.html).toContain('href="/admin/templates/welcome-1"');
    const sample = await page("/admin/templates/welcome-1", cookie);
    expect(sample.status).toBe(200);
    expect(sample.html).toContain('<td id="preview-subject">Hi Ada</td>');
    expect(sample.html).toContain('src="/admin/templates/welcome-1/render?contact="');
    const forGrace = await page("/admin/templates/welcome-1?contact=grace%40example.com", cookie);
    expect(forGrace.html).toContain('<td id="preview-subject">Hi Grace</td>');
    const frame = await page("/admin/templates/welcome-1/render?contact=grace%40example.com", cookie);
    expect(frame.html).toContain("<p>Hello Grace</p>");
    // Looking at a preview records nothing: links go straight to their destination, in a new tab.
    expect(frame.html).toContain('href="https://shop.test" target="_blank" rel="noopener noreferrer"');
    expect(frame.html).not.toContain("https://nurture.test/c/");
    expect(frame.res.headers.get("content-security-policy")).toContain("sandbox");
  });

  it("save an edit and show the new rendering, and refuse Liquid that does not parse without saving", async () => {
    await callJson("/v1/templates/t", { method: "PUT", body: { subject: "Old", html: "<p>old</p>" } });
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/templates/t", cookie)).html);
    const saved = await post("/admin/templates/t", cookie, {
      _csrf: csrf,
      subject: "New {{ contact.first_name }}",
      html: "<p>new</p>",
      contact: "",
    });
    // Post/redirect/get: the saved template is shown by a GET, so a reload does not post again.
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe("/admin/templates/t?contact=&done=saved");
    const shown = await page(saved.headers.get("location")!, cookie);
    expect(shown.html).toContain('<td id="preview-subject">New Ada</td>');
    expect(shown.html).toContain("Saved.");
    expect((await callJson("/v1/templates/t")).body.subject).toBe("New {{ contact.first_name }}");
    const broken = await post("/admin/templates/t", cookie, { _csrf: csrf, subject: "{{ oops", html: "<p>x</p>" });
    expect(broken.status).toBe(422);
    expect(await broken.text()).toContain('id="problems"');
    expect((await callJson("/v1/templates/t")).body.subject).toBe("New {{ contact.first_name }}");
  });
});

describe("templates are created, listed and restored from the dashboard alone", () => {
  it("the New template button opens an empty editor for the id typed, and saving creates it", async () => {
    const cookie = await login();
    const list = await page("/admin/templates", cookie);
    expect(list.html).toContain('action="/admin/templates/new"');
    const opened = await page("/admin/templates/new?id=spring-sale", cookie);
    expect(opened.status).toBe(303);
    expect(opened.res.headers.get("location")).toBe("/admin/templates/spring-sale");
    const editor = await page("/admin/templates/spring-sale", cookie);
    expect(editor.html).toContain("New template spring-sale");
    const saved = await post("/admin/templates/spring-sale", cookie, { _csrf: csrfOf(editor.html), subject: "Spring", html: "<p>hi</p>" });
    expect(saved.status).toBe(303);
    expect((await callJson("/v1/templates/spring-sale")).body.subject).toBe("Spring");
    expect((await page("/admin/templates/new?id=bad%20id", cookie)).status).toBe(400);
  });

  it("the list shows subjects rendered for the sample contact, and the raw subject when it cannot render", async () => {
    await callJson("/v1/templates/hello", { method: "PUT", body: { subject: "Hi {{ contact.first_name }}", html: "<p>x</p>" } });
    await env.DB.prepare(
      "INSERT INTO templates (id, subject, html, created_at, updated_at) VALUES ('odd', '{% include ''missing'' %} raw', '<p/>', 1, 1)",
    ).run();
    const list = await page("/admin/templates", await login());
    expect(list.html).toContain("<td>Hi Ada</td>");
    expect(list.html).not.toContain("{{ contact.first_name }}");
    expect(list.html).toContain("<td>{% include &#39;missing&#39; %} raw</td>");
  });

  it("an edited library template can be restored to the library's version", async () => {
    await callJson("/v1/library/welcome-series/install", { method: "POST" });
    const original = (await callJson("/v1/templates/welcome-1")).body.subject;
    const cookie = await login();
    const untouched = await page("/admin/templates/welcome-1", cookie);
    expect(untouched.html).not.toContain('id="restore-library"');
    await post("/admin/templates/welcome-1", cookie, { _csrf: csrfOf(untouched.html), subject: "Mine", html: "<p>mine</p>" });
    const edited = await page("/admin/templates/welcome-1", cookie);
    expect(edited.html).toContain('id="restore-library"');
    const restored = await post("/admin/templates/welcome-1/restore", cookie, { _csrf: csrfOf(edited.html) });
    expect(restored.status).toBe(303);
    expect(restored.headers.get("location")).toBe("/admin/templates/welcome-1?done=restored");
    expect((await callJson("/v1/templates/welcome-1")).body.subject).toBe(original);
    expect((await page("/admin/templates/welcome-1", cookie)).html).not.toContain('id="restore-library"');
    expect((await post("/admin/templates/not-in-library/restore", cookie, { _csrf: csrfOf(edited.html) })).status).toBe(404);
  });
});

describe("the dev mailbox", () => {
  it("lists what was sent without a provider and shows each message's HTML, text and headers", async () => {
    await callJson("/v1/templates/w1", {
      method: "PUT",
      body: { subject: "Subject w1", html: '<body><p>w1</p><a href="https://shop.test/tea">Tea</a></body>' },
    });
    await activeFlow({
      id: "welcome",
      name: "Welcome",
      trigger: { event: "subscribed" },
      steps: [{ id: "hello", type: "email", template: "w1" }],
    });
    await track({ email: "ada@example.com", name: "subscribed" });
    await deliverDue(pipelineFor(env));
    const { id } = (await env.DB.prepare("SELECT id FROM messages").first<{ id: string }>())!;
    const cookie = await login();
    const list = await page("/admin/mailbox", cookie);
    expect(list.html).toContain(`href="/admin/mailbox/${id}"`);
    expect(list.html).toContain("Subject w1");
    const one = await page(`/admin/mailbox/${id}`, cookie);
    expect(one.html).toContain("List-Unsubscribe-Post");
    expect(one.html).toContain('<pre class="mail-text">w1');
    // The text part's tracked link reads as its destination too.
    expect(one.html).toContain("https://shop.test/tea");
    expect(one.html).not.toContain("https://nurture.test/c/");
    expect(one.html).toContain(`src="/admin/mailbox/${id}/html"`);
    const html = await page(`/admin/mailbox/${id}/html`, cookie);
    expect(html.html).toContain("<p>w1</p>");
    // Viewing records nothing: no pixel, and the tracked link goes straight to its destination, in a new tab.
    expect(html.html).toContain('<a href="https://shop.test/tea" target="_blank" rel="noopener noreferrer">Tea</a>');
    expect(html.html).not.toContain("https://nurture.test/o/");
    expect(html.html).not.toContain("https://nurture.test/c/");
    expect((await env.DB.prepare("SELECT html FROM messages WHERE id = ?").bind(id).first<string>("html"))!).toContain(
      "https://nurture.test/o/",
    );
    expect((await page("/admin/mailbox/nope", cookie)).status).toBe(404);
  });

  it("needs a dashboard session", async () => {
    const res = await page("/admin/mailbox", "");
    expect(res.status).toBe(303);
    expect(res.res.headers.get("location")).toBe("/admin/login");
  });
});

describe("the template editor takes only ids the API could create", () => {
  it("refuses to save a template under an over-long or malformed id, writing nothing", async () => {
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/templates/t", cookie)).html);
    for (const id of ["x".repeat(300), "%20bad%20id"]) {
      const res = await post(`/admin/templates/${id}`, cookie, { _csrf: csrf, subject: "S", html: "<p>x</p>" });
      expect(res.status).toBe(422);
    }
    expect(await env.DB.prepare("SELECT count(*) AS n FROM templates").first("n")).toBe(0);
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { deliverDueMessages } from "../../src/delivery/sender";
import { callJson } from "../helpers/api";
import { csrfOf, login, page, post } from "../helpers/dashboard";
import { activeFlow, contactId, track } from "../helpers/flows";

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
    expect(saved.status).toBe(200);
    expect(await saved.text()).toContain('<td id="preview-subject">New Ada</td>');
    expect((await callJson("/v1/templates/t")).body.subject).toBe("New {{ contact.first_name }}");
    const broken = await post("/admin/templates/t", cookie, { _csrf: csrf, subject: "{{ oops", html: "<p>x</p>" });
    expect(broken.status).toBe(422);
    expect(await broken.text()).toContain('id="problems"');
    expect((await callJson("/v1/templates/t")).body.subject).toBe("New {{ contact.first_name }}");
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
    await deliverDueMessages(env);
    const { id } = (await env.DB.prepare("SELECT id FROM messages").first<{ id: string }>())!;
    const cookie = await login();
    const list = await page("/admin/mailbox", cookie);
    expect(list.html).toContain(`href="/admin/mailbox/${id}"`);
    expect(list.html).toContain("Subject w1");
    const one = await page(`/admin/mailbox/${id}`, cookie);
    expect(one.html).toContain("List-Unsubscribe-Post");
    expect(one.html).toContain('<pre class="mail-text">w1');
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

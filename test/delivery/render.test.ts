import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { MessageKind, TemplateRow } from "../../src/db/schema";
import { draftMessage, sampleContact } from "../../src/delivery/preview";
import { htmlToText, renderMessage } from "../../src/delivery/render";
import { readConfig } from "../../src/env";

const now = Date.now();
const config = readConfig(env);

function template(html: string, extra: Partial<TemplateRow> = {}): TemplateRow {
  return {
    id: "t",
    subject: "Hello",
    html,
    text: null,
    from: null,
    replyTo: null,
    preheader: null,
    libraryHash: null,
    createdAt: now,
    updatedAt: now,
    ...extra,
  };
}

function render(kind: MessageKind, html: string, extra: Partial<TemplateRow> = {}) {
  const contact = sampleContact(now);
  const message = draftMessage(
    { id: "msg_1", kind, toEmail: contact.email, templateId: "t", contactId: contact.id, flowId: "f", stepId: "s" },
    now,
  );
  return renderMessage(message, template(html, extra), contact, config);
}

describe("links", () => {
  it("tracks http(s) links only, and leaves data-nurture-notrack, mailto and anchors alone", async () => {
    const email = await render(
      "marketing",
      '<body><a href="https://a.test/x">A</a><a href="http://b.test">B</a><a href="https://c.test" data-nurture-notrack>C</a><a href="mailto:hi@shop.test">Mail</a><a href="#top">Top</a></body>',
    );
    expect(email.links).toEqual(["https://a.test/x", "http://b.test"]);
    expect(email.html).toContain('<a href="https://c.test">C</a>');
    expect(email.html).toContain('href="mailto:hi@shop.test"');
    expect(email.html).toContain('href="#top"');
    expect(email.html.match(/https:\/\/nurture\.test\/c\//g)).toHaveLength(2);
  });

  it("never tracks the unsubscribe link a template writes itself", async () => {
    const email = await render("marketing", '<body><a href="{{ unsubscribe_url }}">Leave</a></body>');
    expect(email.links).toEqual([]);
    expect(email.html).toMatch(/<a href="https:\/\/nurture\.test\/u\/[^"]+">Leave<\/a>/);
  });
});

describe("what each kind carries", () => {
  it("marketing: pixel, footer with the postal address, one-click unsubscribe headers", async () => {
    const email = await renderMessage(
      draftMessage({ id: "m", kind: "marketing", toEmail: "ada@example.com", templateId: "t", contactId: "preview" }, now),
      template("<body><p>x</p></body>"),
      sampleContact(now),
      { ...config, POSTAL_ADDRESS: "1 Tea Street, Leeds" },
    );
    expect(email.html).toContain("1 Tea Street, Leeds<br />");
    expect(email.html).toContain("/o/");
    expect(email.headers).toEqual({
      "List-Unsubscribe": expect.stringMatching(/^<https:\/\/nurture\.test\/u\/.+>$/),
      "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    });
  });

  it("transactional: tracked, but no marketing footer or unsubscribe headers", async () => {
    const email = await render("transactional", "<body><p>Your receipt</p></body>");
    expect(email.html).toContain("/o/");
    expect(email.html).not.toContain("Unsubscribe");
    expect(email.headers).toEqual({});
  });

  it("notifications to staff: no pixel, no rewritten links, no footer", async () => {
    const email = await render("notify", '<body><a href="https://crm.test/lead">Lead</a></body>');
    expect(email.html).toBe('<body><a href="https://crm.test/lead">Lead</a></body>');
    expect(email.links).toEqual([]);
  });
});

describe("context", () => {
  it("names and links the shop from SHOP_NAME and SHOP_URL; staff mail can link the dashboard", async () => {
    const email = await render("marketing", '<body><p>{{ shop.name }}</p><a href="{{ shop.url }}/new">New</a> {{ dashboard_url }}</body>');
    expect(email.html).toContain("<p>Tea Co</p>");
    expect(email.links).toEqual(["https://shop.test/new"]);
    expect(email.html).toContain("https://nurture.test/admin");
  });
});

describe("structure", () => {
  it("adds the preheader first in the body and the pixel last, even without a body tag", async () => {
    const withBody = await render("marketing", "<html><body><p>x</p></body></html>", { preheader: "Peek <inside>" });
    expect(withBody.html).toMatch(/^<html><body><div style="display:none[^"]*">Peek &#60;inside&#62;<\/div><p>x<\/p>/);
    expect(withBody.html).toMatch(/<img src="https:\/\/nurture\.test\/o\/[^"]+"[^>]*\/><\/body><\/html>$/);
    const fragment = await render("marketing", "<p>x</p>", { preheader: "Peek" });
    expect(fragment.html).toMatch(/^<div style="display:none[^"]*">Peek<\/div><p>x<\/p>/);
    expect(fragment.html).toMatch(/<img src="https:\/\/nurture\.test\/o\/[^"]+"[^>]*\/>$/);
  });

  it("collapses whitespace in the subject and uses the template's from and reply-to", async () => {
    const email = await render("marketing", "<p>x</p>", {
      subject: "Hi\n  {{ contact.first_name }} ",
      from: "Tea <tea@shop.test>",
      replyTo: "help@shop.test",
    });
    expect(email.subject).toBe("Hi Ada");
    expect(email.from).toBe("Tea <tea@shop.test>");
    expect(email.replyTo).toBe("help@shop.test");
  });

  it("derives a readable plain-text part: lines for blocks, URLs after link text, no styles", async () => {
    expect(
      await htmlToText(
        '<style>p{color:red}</style><h1>Title</h1><p>One &amp; two</p><ul><li>a</li><li>b</li></ul><a href="https://x.test">Go</a>',
      ),
    ).toBe("Title\nOne & two\n- a\n- b\nGo (https://x.test)");
  });
});

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ContactRow, MessageKind, TemplateRow } from "../../src/db/schema";
import { draftMessage, sampleContact } from "../../src/delivery/preview";
import { htmlToText, renderMessage } from "../../src/delivery/render";
import { readConfig } from "../../src/env";
import { deliverDue } from "../../src/pipeline/pipeline";
import { readClickToken } from "../../src/tracking/links";
import { contactId } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";
import { fakeResend, providerEnv } from "../helpers/resend";

afterEach(() => {
  vi.restoreAllMocks();
});

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

function render(
  kind: MessageKind,
  html: string,
  extra: Partial<TemplateRow> = {},
  data: { contact?: Partial<ContactRow>; event?: Record<string, unknown> } = {},
) {
  const contact = { ...sampleContact(now), ...data.contact };
  const message = draftMessage(
    {
      id: "msg_1",
      kind,
      toEmail: contact.email,
      templateId: "t",
      contactId: contact.id,
      flowId: "f",
      stepId: "s",
      context: { event: { name: "checkout_started", properties: data.event ?? {} } },
    },
    now,
  );
  return renderMessage(message, template(html, extra), contact, config);
}

const HOSTILE_LINK = '<a href="https://evil.example/win">win</a>';

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

  it("starts a block that follows inline text on a line of its own (a bare link, then the footer)", async () => {
    expect(await htmlToText('<p>Hi</p>\n<a href="https://x.test/sale">Shop the sale</a>\n<div>Your Shop<br />Unsubscribe</div>')).toBe(
      "Hi\nShop the sale (https://x.test/sale)\nYour Shop\nUnsubscribe",
    );
    expect(await htmlToText("<p>a</p>\n<p>b</p><div><p>c</p></div>")).toBe("a\nb\nc");
  });
});

describe("Liquid output is HTML-escaped in the body, and only there", () => {
  it("contact data is escaped in the HTML body", async () => {
    const email = await render(
      "marketing",
      '<body><p>Hi {{ contact.first_name }}</p><img alt="{{ event.properties.note }}" src="https://shop.test/a.png"><a href="https://shop.test/x">Shop</a></body>',
      {},
      { contact: { firstName: HOSTILE_LINK }, event: { note: '" onerror="alert(1)' } },
    );
    expect(email.html).toContain("<p>Hi &lt;a href=&#34;https://evil.example/win&#34;&gt;win&lt;/a&gt;</p>");
    expect(email.html).toContain('alt="&#34; onerror=&#34;alert(1)"');
    expect(email.html).not.toContain('evil.example/win"');
    expect(email.links).toEqual(["https://shop.test/x"]);
    const tokens = [...email.html.matchAll(/href="https:\/\/nurture\.test\/c\/([^"]+)"/g)].map((m) => m[1]!);
    expect(await Promise.all(tokens.map(async (t) => (await readClickToken(config.SIGNING_SECRET, t))?.url))).toEqual([
      "https://shop.test/x",
    ]);
    // The text part shows the name as the characters it is.
    expect(email.text).toContain(`Hi ${HOSTILE_LINK}`);
  });

  it("| raw keeps the template author's HTML", async () => {
    const email = await render(
      "marketing",
      '{% capture cta %}<a href="{{ shop.url }}/gift">A gift for {{ contact.first_name }}</a>{% endcapture %}<body>{{ cta | raw }}<p>{{ "Tea & cakes" | escape }}</p><p>{{ \'<b>bold</b>\' }}</p></body>',
      {},
      { contact: { firstName: HOSTILE_LINK } },
    );
    // The author's link is a link, and tracked; the name captured inside it was escaped when captured.
    expect(email.links).toEqual(["https://shop.test/gift"]);
    expect(email.html).toMatch(
      /<a href="https:\/\/nurture\.test\/c\/[^"]+">A gift for &lt;a href=&#34;https:\/\/evil\.example\/win&#34;&gt;win&lt;\/a&gt;<\/a>/,
    );
    // A template written with `| escape` (before escaping was the default) is escaped once, not twice.
    expect(email.html).toContain("<p>Tea &amp; cakes</p>");
    expect(email.html).toContain("<p>&lt;b&gt;bold&lt;/b&gt;</p>");
  });

  it("a subject keeps & and quotes as text", async () => {
    const show = `Tom & Jerry's "Best" <live>`;
    const email = await render(
      "marketing",
      "<body><p>{{ event.properties.show }}</p></body>",
      {
        subject: "{{ event.properties.show }}",
        preheader: "{{ event.properties.show }}",
        from: "{{ event.properties.show }} <tea@shop.test>",
      },
      { event: { show } },
    );
    expect(email.subject).toBe(show);
    expect(email.from).toBe(`${show} <tea@shop.test>`);
    expect(email.html).toContain("<p>Tom &amp; Jerry&#39;s &#34;Best&#34; &lt;live&gt;</p>");
    // The preheader is plain text too, escaped once where it is placed in the HTML.
    expect(email.html).toContain(">Tom &#38; Jerry&#39;s &#34;Best&#34; &#60;live&#62;</div>");
    expect(email.text.split("\n")[0]).toBe(show); // the derived text part decodes what the body escaped
    const written = await render("marketing", "<p>x</p>", { text: "Hello {{ event.properties.show }}" }, { event: { show } });
    expect(written.text).toBe(`Hello ${show}`);
  });
});

describe("hrefs: only http(s) links are tracked, and a script link is no link", () => {
  it("tracks a data URL the author put in an href with its entities decoded, and drops javascript:, vbscript: and data: hrefs", async () => {
    const email = await render(
      "marketing",
      '<body><a href="{{ event.properties.url }}">Cart</a><a href="{{ event.properties.script }}">A</a><a href="java&#115;cript:alert(1)">B</a><a href=" JavaScript:alert(1)">C</a><a href="vbscript:x">D</a><a href="data:text/html,&lt;script&gt;">E</a><a href="&#1;java&#x9;script:alert(1)">F</a><a href="mailto:hi@shop.test">Mail</a></body>',
      {},
      { event: { url: "https://shop.test/cart?a=1&b=2", script: "javascript:alert(1)" } },
    );
    expect(email.links).toEqual(["https://shop.test/cart?a=1&b=2"]);
    expect(email.html).not.toMatch(/script:|data:/i);
    expect(email.html).toContain("<a>A</a><a>B</a><a>C</a><a>D</a><a>E</a><a>F</a>");
    expect(email.html).toContain('href="mailto:hi@shop.test"');
  });
});

describe("header fields are one line", () => {
  it("CR/LF from contact data never reaches a header", async () => {
    const requests = fakeResend();
    const contact = await contactId("header@example.com");
    // Stored as an import or an older version could have stored them.
    await env.DB.prepare("UPDATE contacts SET first_name = ?, attributes = ? WHERE id = ?")
      .bind("Ada\r\nBcc: victim@evil.example", JSON.stringify({ reply: "help@shop.test\nBcc: other@evil.example\u2028X\u0000" }), contact)
      .run();
    const stamp = Date.now();
    await env.DB.prepare(
      "INSERT OR REPLACE INTO templates (id, subject, html, \"from\", reply_to, created_at, updated_at) VALUES ('headers', ?, '<p>Hi</p>', ?, ?, ?, ?)",
    )
      .bind("Hi {{ contact.first_name }}", "{{ contact.first_name }} <tea@shop.test>", "{{ contact.attributes.reply }}", stamp, stamp)
      .run();
    await env.DB.prepare(
      "INSERT INTO messages (id, contact_id, to_email, kind, template_id, status, due_at, created_at) VALUES ('msg_headers', ?, 'header@example.com', 'transactional', 'headers', 'queued', ?, ?)",
    )
      .bind(contact, stamp - 1000, stamp)
      .run();

    await deliverDue(pipelineFor(providerEnv()));

    const email = requests.accepted.find((e) => e.to[0] === "header@example.com") as Record<string, unknown> | undefined;
    expect(email).toMatchObject({
      from: "Ada Bcc: victim@evil.example <tea@shop.test>",
      reply_to: "help@shop.test Bcc: other@evil.example X",
      subject: "Hi Ada Bcc: victim@evil.example",
    });
    for (const field of ["from", "reply_to", "subject"]) expect(String(email?.[field])).not.toMatch(/[\p{Cc}\u2028\u2029]/u);
    const row = await env.DB.prepare("SELECT status FROM messages WHERE id = 'msg_headers'").first<{ status: string }>();
    expect(row?.status).toBe("sent");
  });
});

describe("the text part is produced in linear time", () => {
  // Markup-like text as an attacker would size it: unclosed links, quotes, hidden blocks, entities, list items.
  const oddMarkup = (bytes: number) => {
    const piece = "<a href=\"x<div style=\"display:none<li>&amp&#<p <br/>\"'<a><a href='y'>&#x41; <<>> </div></a>";
    return piece.repeat(Math.ceil(bytes / piece.length)).slice(0, bytes);
  };
  const renderWith = (note: string) =>
    render("marketing", "<body><p>Note: {{ event.properties.note }}</p></body>", {}, { event: { note } });
  /**
   * The best of five runs of each, in ms, taken in turns: the machine is shared, so a pause of the runtime or of
   * the host lands on one run, not on one size. A 20 ms floor keeps the timer's coarseness out of the ratio.
   */
  const costs = async (small: () => Promise<unknown>, large: () => Promise<unknown>) => {
    const best = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    await large(); // warm up
    for (let i = 0; i < 5; i++) {
      for (const [which, run] of [small, large].entries()) {
        const start = performance.now();
        await run();
        best[which] = Math.min(best[which]!, performance.now() - start);
      }
    }
    return { small: best[0]!, large: best[1]!, bound: 8 * Math.max(best[0]!, 20) };
  };

  it("the text part is produced in linear time", async () => {
    const rendered = await costs(
      () => renderWith(oddMarkup(96 * 1024)),
      () => renderWith(oddMarkup(384 * 1024)),
    );
    expect(rendered.small).toBeLessThan(200);
    expect(rendered.large, JSON.stringify(rendered)).toBeLessThan(rendered.bound);
    // Markup itself (a template author's, or data they output with `| raw`) is not data a stranger controls;
    // HTMLRewriter's cost on unbalanced tags is not strictly linear, so it gets an absolute bound instead: the
    // regex chain this replaced took seconds for 8 KB of it.
    const markup = await costs(
      () => htmlToText(oddMarkup(8 * 1024)),
      () => htmlToText(oddMarkup(96 * 1024)),
    );
    expect(markup.large, JSON.stringify(markup)).toBeLessThan(1_500);
    // Escaped, the data is all text, and all of it is in the text part.
    const email = await renderWith(oddMarkup(96 * 1024));
    expect(email.text.startsWith('Note: <a href="x<div style="display:none<li>&amp&#<p <br/>"\'')).toBe(true);
  });
});

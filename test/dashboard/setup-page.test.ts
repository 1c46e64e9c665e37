import { describe, expect, it } from "vitest";
import { call, login, page } from "../helpers/dashboard";

describe("the Set up your site page shows the tag, the allowed origins and the snippet's latest events", () => {
  it("fills the tag with this Worker's URL and site key and lists the allowed origins", async () => {
    const cookie = await login();
    const setup = await page("/admin/setup", cookie);
    expect(setup.status).toBe(200);
    expect(setup.html).toContain(
      '<pre class="code" id="snippet-tag">&lt;script src=&quot;https://nurture.test/s.js&quot; data-site-key=&quot;site_test&quot;&gt;&lt;/script&gt;</pre>',
    );
    expect(setup.html).toContain("<code>https://shop.test</code>");
    expect(setup.html).toContain('<meta http-equiv="refresh"');
    expect(setup.html).toContain('id="snippet-events-empty"');
    expect(setup.html).toContain('href="/admin/setup" aria-current="page"');
    expect(setup.html).toContain("/v1/events");
  });

  it("an event the snippet sends appears on the page with its page address", async () => {
    const sent = await call("/v1/collect", {
      method: "POST",
      auth: false,
      rawBody: JSON.stringify({ site_key: "site_test", anonymous_id: "anon-setup-0001", type: "page", url: "https://shop.test/tea" }),
      headers: { origin: "https://shop.test", "content-type": "text/plain" },
    });
    expect(sent.status).toBe(202);
    const setup = await page("/admin/setup", await login());
    expect(setup.html).toContain('<tr data-event="page_viewed">');
    expect(setup.html).toContain("https://shop.test/tea");
    expect(setup.html).not.toContain('id="snippet-events-empty"');
  });
});

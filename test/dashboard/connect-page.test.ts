/** The dashboard's Connect page: what to paste where, whether each secret is set, and the last delivery received. */
import { describe, expect, it } from "vitest";
import customerFixture from "../fixtures/connect/shopify-customers-update.json?raw";
import { postShopify, postStripe, variant } from "../helpers/connect";
import { login, page } from "../helpers/dashboard";

const section = (html: string, platform: string) => {
  const start = html.indexOf(`id="connect-${platform}"`);
  expect(start, `section of ${platform}`).toBeGreaterThan(-1);
  return html.slice(start, html.indexOf("</section>", start));
};

describe("the Connect page says what to paste where", () => {
  it("each platform's webhook URL, topics and secret name, with the secret set", async () => {
    const { status, html } = await page("/admin/connect", await login());
    expect(status).toBe(200);
    const shopify = section(html, "shopify");
    expect(shopify).toContain("https://nurture.test/connect/shopify");
    for (const topic of [
      "orders/create",
      "orders/fulfilled",
      "checkouts/create",
      "checkouts/update",
      "customers/create",
      "customers/update",
    ]) {
      expect(shopify).toContain(`<code>${topic}</code>`);
    }
    expect(shopify).toContain("SHOPIFY_WEBHOOK_SECRET");
    expect(shopify).toContain(">set<");
    const woo = section(html, "woocommerce");
    expect(woo).toContain("https://nurture.test/connect/woocommerce");
    expect(woo).toContain("<code>Order created</code>");
    expect(woo).toContain("WOOCOMMERCE_WEBHOOK_SECRET");
    const stripe = section(html, "stripe");
    expect(stripe).toContain("https://nurture.test/connect/stripe");
    for (const topic of ["invoice.payment_failed", "invoice.paid", "customer.subscription.updated"])
      expect(stripe).toContain(`<code>${topic}</code>`);
    expect(stripe).toContain("STRIPE_WEBHOOK_SECRET");
    expect(html).toContain('href="/admin/connect" aria-current="page"');
  });
});

describe("the Connect page shows the last delivery received", () => {
  it("a processed Shopify delivery and an ignored Stripe one appear with their time, topic and result; a refused one never does", async () => {
    const cookie = await login();
    const before = Date.now();
    await postShopify("customers/update", variant(customerFixture, { "bob@example.com": "connect-page@example.com" }), "connect-page-1");
    await postStripe(
      JSON.stringify({ id: "evt_page", object: "event", type: "charge.refunded", created: 1794300000, data: { object: {} } }),
    );
    const { html } = await page("/admin/connect", cookie);
    const shopify = section(html, "shopify");
    const minute = new Date(before).toISOString().slice(0, 16).replace("T", " ");
    expect(shopify).toContain(minute);
    expect(shopify).toContain("<strong>processed</strong>");
    expect(shopify).toContain("<code>customers/update</code>");
    expect(shopify).not.toContain("connect-page@example.com");
    const stripe = section(html, "stripe");
    expect(stripe).toContain("<strong>ignored</strong>");
    expect(stripe).toContain("unknown topic charge.refunded");

    await postShopify("orders/create", "{}", "connect-page-forged", "bm90IHRoZSBzaWduYXR1cmUgb2YgdGhpcyBib2R5IGF0IGFsbCE=");
    expect(section((await page("/admin/connect", cookie)).html, "shopify")).toContain("<code>customers/update</code>");
  });
});

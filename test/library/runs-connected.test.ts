/**
 * The library's shop flows on what the connectors deliver, not on hand-written events: Shopify's checkouts and
 * orders and Stripe's invoices, as the platforms post them to /connect/*, with waits shortened to seconds.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import checkoutFixture from "../fixtures/connect/shopify-checkouts-create.json?raw";
import orderFixture from "../fixtures/connect/shopify-orders-create.json?raw";
import failedFixture from "../fixtures/connect/stripe-invoice-payment-failed.json?raw";
import { postShopify, postStripe, variant } from "../helpers/connect";
import { call } from "../helpers/dashboard";
import { contactId, fireAlarm, messagesOf, sleep } from "../helpers/flows";
import { activeLibraryFlow } from "../helpers/library";

/** The sent message's HTML. */
async function htmlOf(messageId: string): Promise<string> {
  return (await env.DB.prepare("SELECT html FROM messages WHERE id = ?").bind(messageId).first<{ html: string }>())!.html;
}

/** Where a tracked button of the email leads: its click token is followed to the redirect's Location. */
async function buttonTarget(html: string, label: string): Promise<string | null> {
  const token = new RegExp(`href="https://nurture\\.test/c/([^"]+)"[^>]*>${label}<`).exec(html)?.[1];
  if (!token) return null;
  const res = await call(`/c/${token}`, { auth: false });
  return res.headers.get("location");
}

describe("abandoned cart links to the platform's recovery URL", () => {
  it("a Shopify checkout's reminder shows its items and its button returns to abandoned_checkout_url", async () => {
    await activeLibraryFlow("abandoned-cart");
    const email = "libc-cart@example.com";
    const id = await contactId(email);
    await postShopify("checkouts/create", variant(checkoutFixture, { "jon@example.com": email }), "libc-cart-1");
    await sleep(1100);
    await fireAlarm(id);
    const [reminder] = await messagesOf(id);
    expect(reminder?.template_id).toBe("abandoned-cart-1");
    const html = await htmlOf(reminder!.id);
    expect(html).toContain("Sencha green tea");
    expect(html).toContain("× 2");
    expect(html).toContain("€28.00");
    expect(await buttonTarget(html, "Return to your cart")).toMatch(
      /^https:\/\/tea-co\.myshopify\.com\/548380009\/checkouts\/123123123\/recover\?key=example-secret-token/,
    );
  });
});

describe("post-purchase and replenishment read the connector's line items", () => {
  it("a Shopify order's thank-you lists its line items and links to the order status page", async () => {
    await activeLibraryFlow("post-purchase");
    const email = "libc-order@example.com";
    const id = await contactId(email);
    await postShopify("orders/create", variant(orderFixture, { "jon@example.com": email, "820982911946154508": "8001" }), "libc-order-1");
    const [thanks] = await messagesOf(id);
    expect(thanks?.template_id).toBe("post-purchase-1");
    const html = await htmlOf(thanks!.id);
    for (const fact of ["Sencha green tea", "× 2", "€14.00", "Cast-iron teapot", "€26.00", "€59.90"]) expect(html).toContain(fact);
    expect(await buttonTarget(html, "View your order")).toMatch(
      /^https:\/\/tea-co\.myshopify\.com\/548380009\/orders\/123456abcd\/authenticate\?key=abcdefg/,
    );
  });

  it("a Shopify order whose line item has replenish_days gets the reorder reminder, with a link that refills the same cart", async () => {
    await activeLibraryFlow("replenishment");
    const email = "libc-refill@example.com";
    const id = await contactId(email);
    // 8 days: the shortened flow waits 8 − 7 = 1 second.
    const order = variant(orderFixture, { "jon@example.com": email, "820982911946154508": "8002", '"value": "30"': '"value": "8"' });
    await postShopify("orders/create", order, "libc-refill-1");
    await sleep(1100);
    await fireAlarm(id);
    const [reminder] = await messagesOf(id);
    expect(reminder?.template_id).toBe("replenishment-1");
    const html = await htmlOf(reminder!.id);
    expect(html).toContain("Sencha green tea");
    expect(await buttonTarget(html, "Reorder in one click")).toMatch(/^https:\/\/shop\.test\/cart\/642667041472713922:2,808950810:1/);
  });
});

describe("failed payment links to the hosted invoice", () => {
  it("a Stripe invoice.payment_failed sends the notice at once, with the amount, its button to Stripe's hosted invoice page", async () => {
    await activeLibraryFlow("failed-payment");
    const email = "libc-payment@example.com";
    const id = await contactId(email);
    await postStripe(variant(failedFixture, { "jenny.rosen@example.com": email, evt_1QfailedInvoice000001: "evt_libc_payment" }));
    const [notice] = await messagesOf(id);
    expect(notice).toMatchObject({ template_id: "failed-payment-1", kind: "transactional" });
    const html = await htmlOf(notice!.id);
    expect(html).toContain("€19.00");
    expect(await buttonTarget(html, "Update payment details")).toMatch(
      /^https:\/\/invoice\.stripe\.com\/i\/acct_1Test\/test_YWNjdF8xVGVzdA\?s=ap/,
    );
  });
});

/** Shopify webhooks at /connect/shopify: signatures, topic mapping, consent and redelivery (SPEC section 11). */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import checkoutFixture from "../fixtures/connect/shopify-checkouts-create.json?raw";
import customerFixture from "../fixtures/connect/shopify-customers-update.json?raw";
import orderFixture from "../fixtures/connect/shopify-orders-create.json?raw";
import signatures from "../fixtures/connect/signatures.json";
import { callJson } from "../helpers/api";
import { contactOf, eventsNamed, hmacBase64, postShopify, variant, writtenRows } from "../helpers/connect";

/** The order fixture for another customer and order id, so tests do not share contacts or event ids. */
const orderFor = (email: string, orderId: string) => variant(orderFixture, { "jon@example.com": email, "820982911946154508": orderId });

describe("a Shopify webhook is accepted only with the HMAC of its raw body", () => {
  it("the fixture signed with Node's crypto (known answer) is accepted and recorded", async () => {
    const res = await postShopify("orders/create", orderFixture, "kat-order-1", signatures["shopify-orders-create.json"]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ ok: true, result: "processed" });
    expect(await hmacBase64(env.SHOPIFY_WEBHOOK_SECRET as string, orderFixture)).toBe(signatures["shopify-orders-create.json"]);
    expect(await eventsNamed("jon@example.com", "order_placed")).toHaveLength(1);
  });

  it.each([
    [
      "a tampered body",
      async () => orderFor("forged@example.com", "1").replace('"59.90"', '"0.01"'),
      async () => hmacBase64("shpss_test_0123456789abcdef", orderFor("forged@example.com", "1")),
    ],
    [
      "a wrong secret",
      async () => orderFor("forged@example.com", "2"),
      async () => hmacBase64("another-secret", orderFor("forged@example.com", "2")),
    ],
    ["no signature header", async () => orderFor("forged@example.com", "3"), async () => null],
    ["a signature that is not base64", async () => orderFor("forged@example.com", "4"), async () => "not base64!"],
  ])("%s is refused with 401 and writes nothing", async (_, body, signature) => {
    const before = await writtenRows();
    const res = await postShopify("orders/create", await body(), "forged", await signature());
    expect(res.status).toBe(401);
    expect(res.body.error.code).toBe("invalid_signature");
    expect(await writtenRows()).toBe(before);
    expect(await contactOf("forged@example.com")).toBeNull();
  });
});

describe("Shopify topics become Nurture events and contact fields", () => {
  it("orders/create is an order_placed with the total, currency and line items, counted in total_spent", async () => {
    const res = await postShopify("orders/create", orderFor("shop-order@example.com", "5001"), "wh-5001");
    expect(res.status).toBe(200);
    const [order] = await eventsNamed("shop-order@example.com", "order_placed");
    expect(order).toMatchObject({ id: "shopify_order_5001", value: 59.9, source: "webhook", ts: Date.parse("2026-11-10T14:15:00Z") });
    expect(order?.properties).toMatchObject({
      order_id: "5001",
      order_number: "#9999",
      value: 59.9,
      currency: "EUR",
      order_url: "https://tea-co.myshopify.com/548380009/orders/123456abcd/authenticate?key=abcdefg",
      reorder_url: "https://shop.test/cart/642667041472713922:2,808950810:1",
      replenish_days: 30,
      items: [
        {
          product_id: "788032119674292922",
          variant_id: "642667041472713922",
          sku: "SEN-100",
          name: "Sencha green tea",
          quantity: 2,
          price: 14,
          replenish_days: 30,
        },
        { product_id: "632910392", variant_id: "808950810", name: "Cast-iron teapot", quantity: 1, price: 26, replenish_days: null },
      ],
    });
    const contact = await contactOf("shop-order@example.com");
    expect(contact).toMatchObject({ first_name: "Jon", last_name: "Snow", orders_count: 1, total_spent: 59.9, consent: "subscribed" });
    expect(contact.attributes).toMatchObject({ shopify_customer_id: "115310627314723954" });
  });

  it("checkouts/create is a checkout_started with the items and the recovery URL", async () => {
    const body = variant(checkoutFixture, { "jon@example.com": "shop-cart@example.com" });
    const res = await postShopify("checkouts/create", body, "wh-cart-1");
    expect(res.status).toBe(200);
    const [started] = await eventsNamed("shop-cart@example.com", "checkout_started");
    expect(started).toMatchObject({ id: "shopify_wh-cart-1", value: null });
    expect(started?.properties).toMatchObject({
      abandoned_checkout_url: "https://tea-co.myshopify.com/548380009/checkouts/123123123/recover?key=example-secret-token",
      value: 28,
      currency: "EUR",
      items: [{ name: "Sencha green tea", quantity: 2, price: 14, product_id: "788032119674292922" }],
    });
  });

  it("checkouts/update of a completed checkout is ignored with 202: its order comes as orders/create", async () => {
    const body = variant(checkoutFixture, {
      "jon@example.com": "shop-cart-done@example.com",
      '"completed_at": null': '"completed_at": "2026-11-10T09:00:00-05:00"',
    });
    const res = await postShopify("checkouts/update", body, "wh-cart-done");
    expect(res.status).toBe(202);
    expect(res.body.result).toBe("ignored");
    expect(await contactOf("shop-cart-done@example.com")).toBeNull();
  });

  it("customers/update writes the name and, with email_marketing_consent subscribed, consent subscribed and one subscribed event", async () => {
    const body = variant(customerFixture, { "bob@example.com": "shop-customer@example.com" });
    const res = await postShopify("customers/update", body, "wh-customer-1");
    expect(res.status).toBe(200);
    expect(await contactOf("shop-customer@example.com")).toMatchObject({ first_name: "Bob", last_name: "Biller", consent: "subscribed" });
    expect(await eventsNamed("shop-customer@example.com", "subscribed")).toHaveLength(1);
  });

  it("the older accepts_marketing flag subscribes too", async () => {
    const body = JSON.stringify({ id: 77, email: "shop-legacy@example.com", first_name: "Lee", accepts_marketing: true });
    expect((await postShopify("customers/create", body, "wh-legacy")).status).toBe(200);
    expect(await contactOf("shop-legacy@example.com")).toMatchObject({ first_name: "Lee", consent: "subscribed" });
  });

  it("a stale opt-in never re-subscribes a contact who unsubscribed later; an explicit Shopify unsubscribe unsubscribes", async () => {
    const email = "shop-left@example.com";
    expect((await callJson("/v1/contacts", { method: "PUT", body: { email, consent: "unsubscribed" } })).status).toBe(201);
    const stale = variant(customerFixture, { "bob@example.com": email });
    expect((await postShopify("customers/update", stale, "wh-left-1")).status).toBe(200);
    expect((await contactOf(email)).consent).toBe("unsubscribed");

    const fresh = "shop-opted-out@example.com";
    await callJson("/v1/contacts", { method: "PUT", body: { email: fresh, consent: "subscribed" } });
    const optOut = JSON.stringify({
      id: 78,
      email: fresh,
      email_marketing_consent: { state: "unsubscribed", consent_updated_at: new Date(Date.now() + 1000).toISOString() },
    });
    expect((await postShopify("customers/update", optOut, "wh-left-2")).status).toBe(200);
    expect((await contactOf(fresh)).consent).toBe("unsubscribed");
  });

  it("orders/fulfilled is an order_fulfilled that adds nothing to total_spent", async () => {
    const email = "shop-fulfilled@example.com";
    await postShopify("orders/create", orderFor(email, "5002"), "wh-5002");
    const fulfilled = variant(orderFor(email, "5002"), {
      '"fulfillments": []':
        '"fulfillments": [{ "id": 1, "status": "success", "tracking_number": "1Z999", "tracking_url": "https://track.test/1Z999" }]',
    });
    expect((await postShopify("orders/fulfilled", fulfilled, "wh-5002-f")).status).toBe(200);
    const [event] = await eventsNamed(email, "order_fulfilled");
    expect(event?.properties).toMatchObject({ order_id: "5002", tracking_url: "https://track.test/1Z999", tracking_number: "1Z999" });
    expect(await contactOf(email)).toMatchObject({ orders_count: 1, total_spent: 59.9 });
  });

  it("an unknown topic and a payload that does not fit are answered 202, ignored, and written to nothing but the delivery record", async () => {
    const before = await writtenRows();
    const unknown = await postShopify("products/update", JSON.stringify({ id: 1, title: "Tea" }), "wh-product");
    expect(unknown.status).toBe(202);
    expect(unknown.body).toMatchObject({ result: "ignored", detail: "unknown topic products/update" });
    const misfit = await postShopify(
      "orders/create",
      JSON.stringify({ id: { nested: true }, email: "shop-misfit@example.com" }),
      "wh-misfit",
    );
    expect(misfit.status).toBe(202);
    expect(misfit.body.detail).toMatch(/^payload did not fit: id/);
    const notJson = await postShopify("orders/create", "<xml/>", "wh-xml");
    expect(notJson.status).toBe(202);
    // Only the one-row "last delivery" record of the platform may have been created.
    expect(await writtenRows()).toBeLessThanOrEqual(before + 1);
    expect(await contactOf("shop-misfit@example.com")).toBeNull();
  });
});

describe("a Shopify payload is read leniently", () => {
  it("a 300-character name is cut to 200 and a 300-character webhook id replaced by the body's digest: the order still counts", async () => {
    const email = "shop-long@example.com";
    const body = variant(orderFor(email, "5004"), { '"first_name": "Jon"': `"first_name": "${"J".repeat(300)}"` });
    const res = await postShopify("orders/create", body, "w".repeat(300));
    expect(res.body.result).toBe("processed");
    const contact = await contactOf(email);
    expect(contact.first_name).toHaveLength(200);
    expect(contact).toMatchObject({ orders_count: 1, total_spent: 59.9 });
  });
});

describe("a Shopify delivery is processed once", () => {
  it("a redelivery with the same webhook id, or the same order under another id, records one order", async () => {
    const email = "shop-twice@example.com";
    const body = orderFor(email, "5003");
    expect((await postShopify("orders/create", body, "wh-5003")).body.result).toBe("processed");
    expect((await postShopify("orders/create", body, "wh-5003")).body.result).toBe("duplicate");
    expect((await postShopify("orders/create", body, "wh-5003-again")).body.result).toBe("duplicate");
    expect(await eventsNamed(email, "order_placed")).toHaveLength(1);
    expect(await contactOf(email)).toMatchObject({ orders_count: 1, total_spent: 59.9 });
  });
});

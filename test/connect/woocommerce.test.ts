/** WooCommerce webhooks at /connect/woocommerce: signatures, the save-time ping, paid orders and redelivery (SPEC section 11). */
import { describe, expect, it } from "vitest";
import signatures from "../fixtures/connect/signatures.json";
import orderFixture from "../fixtures/connect/woocommerce-order-created.json?raw";
import { call } from "../helpers/api";
import { contactOf, eventsNamed, hmacBase64, postWoo, variant, writtenRows } from "../helpers/connect";

const orderFor = (email: string, orderId: string, status = "processing") =>
  variant(orderFixture, {
    "john.doe@example.com": email,
    '"id": 727': `"id": ${orderId}`,
    '"status": "processing"': `"status": "${status}"`,
  });

describe("a WooCommerce webhook is accepted only with the HMAC of its raw body", () => {
  it("the fixture signed with Node's crypto (known answer) is accepted", async () => {
    const res = await postWoo("order.created", orderFixture, "d-known", signatures["woocommerce-order-created.json"]);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(await eventsNamed("john.doe@example.com", "order_placed")).toHaveLength(1);
  });

  it.each([
    ["a tampered body", (b: string) => b.replace('"32.90"', '"0.10"'), (b: string) => hmacBase64("woo-test-secret-0123456789", b)],
    ["a wrong secret", (b: string) => b, (b: string) => hmacBase64("wrong-secret", b)],
    ["no signature header", (b: string) => b, async () => null],
  ])("%s is refused with 401 and writes nothing", async (_, tamper, sign) => {
    const body = orderFor("woo-forged@example.com", "9001");
    const before = await writtenRows();
    const res = await postWoo("order.created", tamper(body), "d-forged", await sign(body));
    expect(res.status).toBe(401);
    expect(await writtenRows()).toBe(before);
    expect(await contactOf("woo-forged@example.com")).toBeNull();
  });
});

describe("the ping WooCommerce sends when a webhook is saved answers 200", () => {
  it("an unsigned webhook_id=… form post is 200 and writes nothing", async () => {
    const before = await writtenRows();
    const res = await call("/connect/woocommerce", {
      method: "POST",
      auth: false,
      rawBody: "webhook_id=12",
      headers: { "content-type": "application/x-www-form-urlencoded", "user-agent": "WooCommerce/9.4.2 Hookshot (WordPress/6.7)" },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, ping: true });
    expect(await writtenRows()).toBe(before);
  });
});

describe("a paid WooCommerce order becomes order_placed", () => {
  it("order.created of a processing order carries the total, currency, items with image and product link, and counts in total_spent", async () => {
    const email = "woo-order@example.com";
    expect((await postWoo("order.created", orderFor(email, "9002"), "d-9002")).status).toBe(200);
    const [order] = await eventsNamed(email, "order_placed");
    expect(order).toMatchObject({ id: "woocommerce_order_9002", value: 32.9, source: "webhook", ts: Date.parse("2026-11-10T14:30:00Z") });
    expect(order?.properties).toMatchObject({
      order_id: "9002",
      currency: "EUR",
      value: 32.9,
      replenish_days: 45,
      items: [
        {
          product_id: "93",
          variant_id: null,
          name: "Woo Single #1",
          quantity: 2,
          price: 6,
          image_url: "https://woo.shop.test/wp-content/uploads/single-1.jpg",
          url: "https://shop.test/?post_type=product&p=93",
          replenish_days: 45,
        },
        { product_id: "22", variant_id: "23", quantity: 1, price: 16, image_url: null },
      ],
    });
    expect(await contactOf(email)).toMatchObject({ first_name: "John", last_name: "Doe", orders_count: 1, total_spent: 32.9 });
  });

  it("an order created unpaid is ignored, and counts once when order.updated reports it paid, however often it is delivered", async () => {
    const email = "woo-pending@example.com";
    const pending = await postWoo("order.created", orderFor(email, "9003", "pending"), "d-9003-a");
    expect(pending.status).toBe(202);
    expect(pending.body.detail).toBe("order 9003 is pending, not placed yet");
    expect(await contactOf(email)).toBeNull();
    expect((await postWoo("order.updated", orderFor(email, "9003"), "d-9003-b")).body.result).toBe("processed");
    expect((await postWoo("order.updated", orderFor(email, "9003", "completed"), "d-9003-c")).body.result).toBe("duplicate");
    expect((await postWoo("order.updated", orderFor(email, "9003", "completed"), "d-9003-c")).body.result).toBe("duplicate");
    expect(await eventsNamed(email, "order_placed")).toHaveLength(1);
    expect(await contactOf(email)).toMatchObject({ orders_count: 1, total_spent: 32.9 });
  });

  it("an unknown topic is answered 202 and ignored", async () => {
    const res = await postWoo("product.updated", JSON.stringify({ id: 93, name: "Woo Single #1" }), "d-product");
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ result: "ignored", detail: "unknown topic product.updated" });
  });
});

/**
 * A shop with no developer, end to end: Shopify's checkout starts the abandoned-cart flow, the reminder is
 * clicked, and Shopify's order then counts in total_spent, starts post-purchase, ends the cart flow and is
 * attributed to the clicked reminder in the flow's report.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { libraryEntry } from "../../src/library/catalog";
import checkoutFixture from "../fixtures/connect/shopify-checkouts-create.json?raw";
import orderFixture from "../fixtures/connect/shopify-orders-create.json?raw";
import { callJson } from "../helpers/api";
import { contactOf, postShopify, variant } from "../helpers/connect";
import { contactId, enrollmentsOf, fireAlarm, messagesOf, sleep } from "../helpers/flows";
import { activeLibraryFlow } from "../helpers/library";
import { BROWSER, eventually, visit } from "../helpers/tracking";

describe("an order through Shopify counts, starts post-purchase and is attributed to the email clicked before it", () => {
  it("checkout → reminder → click → order: total_spent, post-purchase, cart flow exited, revenue on the reminder step", async () => {
    const email = "journey@example.com";
    // Only the first wait is shortened, so that nothing else is sent while the test clicks and orders.
    const cart = libraryEntry("abandoned-cart")!.flow;
    await activeLibraryFlow("abandoned-cart", {
      ...cart,
      id: "abandoned-cart-run",
      steps: cart.steps.map((step) => (step.id === "wait_1h" ? { ...step, for: "1s" } : step)),
    });
    await activeLibraryFlow("post-purchase", { ...libraryEntry("post-purchase")!.flow, id: "post-purchase-run" });
    const id = await contactId(email, { first_name: "Jo" });

    const checkout = variant(checkoutFixture, { "jon@example.com": email });
    expect((await postShopify("checkouts/create", checkout, "journey-checkout")).status).toBe(200);
    await sleep(1100);
    await fireAlarm(id);
    const [reminder] = await messagesOf(id);
    expect(reminder).toMatchObject({ template_id: "abandoned-cart-1", status: "sent" });

    // Sent an hour ago, so that the click is a person's and not a link scanner's.
    await env.DB.prepare("UPDATE messages SET sent_at = ? WHERE id = ?")
      .bind(Date.now() - 3_600_000, reminder!.id)
      .run();
    const html = (await env.DB.prepare("SELECT html FROM messages WHERE id = ?").bind(reminder!.id).first<{ html: string }>())!.html;
    // The reminder's button: "Return to your cart", tracked.
    const button = /href="https:\/\/nurture\.test\/c\/([^"]+)"[^>]*>Return to your cart</.exec(html);
    expect(button, html).not.toBeNull();
    const clicked = await visit(`/c/${button![1]}`, BROWSER);
    expect(clicked.status).toBe(302);
    expect(clicked.headers.get("location")).toMatch(
      /^https:\/\/tea-co\.myshopify\.com\/548380009\/checkouts\/123123123\/recover\?key=example-secret-token/,
    );
    await eventually(
      () =>
        env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ? AND name = 'email_clicked' AND machine = 0")
          .bind(id)
          .first<{ n: number }>("n"),
      (n) => Number(n) === 1,
    );

    const order = variant(orderFixture, {
      "jon@example.com": email,
      "820982911946154508": "7001",
      '"created_at": "2026-11-10T09:15:00-05:00"': `"created_at": "${new Date().toISOString()}"`,
    });
    expect((await postShopify("orders/create", order, "journey-order")).status).toBe(200);

    expect(await contactOf(email)).toMatchObject({ orders_count: 1, total_spent: 59.9 });
    const enrollments = await enrollmentsOf(id);
    expect(enrollments.find((e) => e.flow_id === "abandoned-cart-run")).toMatchObject({ status: "exited", exit_reason: "exit_event" });
    expect(enrollments.find((e) => e.flow_id === "post-purchase-run")).toMatchObject({ status: "active" });
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["abandoned-cart-1", "post-purchase-1"]);

    const stats = await callJson("/v1/flows/abandoned-cart-run/stats");
    expect(stats.body.totals).toMatchObject({ converted: 1, revenue: 59.9 });
    expect(stats.body.steps.find((s: any) => s.id === "reminder")).toMatchObject({ clicked: 1, revenue: 59.9 });
  });
});

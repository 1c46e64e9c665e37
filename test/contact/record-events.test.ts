import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { activeFlow, contactId, enrollmentsOf, messagesOf, track } from "../helpers/flows";

/** A cart reminder that an order ends: it queues mail only if the order is processed before the checkout. */
const cartReminder = {
  id: "order-cart",
  name: "Cart reminder",
  trigger: { event: "checkout_started" },
  exit_when: [{ event: "order_placed" }],
  reentry: "after_exit",
  steps: [
    { id: "later", type: "wait", for: "1h" },
    { id: "remind", type: "email", template: "order-cart-1" },
  ],
};

describe("events of one request are processed in the order sent", () => {
  it("[checkout_started, order_placed] with the same ts in one batch never leaves a cart reminder", async () => {
    await activeFlow(cartReminder);
    const ts = Date.now();
    // Twenty shoppers in one request: with random event ids, an order by id would reverse some pairs.
    const emails = Array.from({ length: 20 }, (_, i) => `same-ts-${i}@example.com`);
    await track(
      emails.flatMap((email) => [
        { email, name: "checkout_started", ts },
        { email, name: "order_placed", value: 30, ts },
      ]),
    );
    for (const email of emails) {
      const id = await contactId(email);
      expect(await enrollmentsOf(id), email).toMatchObject([{ flow_id: "order-cart", status: "exited", exit_reason: "exit_event" }]);
      expect(await messagesOf(id), email).toEqual([]);
    }
  });

  it("sorts a request's events by time first: an order sent before an earlier checkout still ends the reminder", async () => {
    await activeFlow(cartReminder);
    const ts = Date.now();
    await track([
      { email: "later-order@example.com", name: "order_placed", value: 30, ts: ts + 1000 },
      { email: "later-order@example.com", name: "checkout_started", ts },
    ]);
    const id = await contactId("later-order@example.com");
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "exited", exit_reason: "exit_event" }]);
    expect(await messagesOf(id)).toEqual([]);
  });

  it("a checkout after the order in the same request starts the reminder", async () => {
    await activeFlow(cartReminder);
    const ts = Date.now();
    await track([
      { email: "order-then-cart@example.com", name: "order_placed", value: 30, ts },
      { email: "order-then-cart@example.com", name: "checkout_started", ts },
    ]);
    const id = await contactId("order-then-cart@example.com");
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "active", current_step: "later" }]);
    const stored = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ?").bind(id).first("n");
    expect(stored).toBe(2);
  });
});

/** Runs of the shop flows of the library through the engine, with their waits shortened to seconds. */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { LIBRARY, libraryEntry } from "../../src/library/catalog";
import { callJson } from "../helpers/api";
import { activeFlow, contactId, enrollmentsOf, fireAlarm, messagesOf, sleep, track } from "../helpers/flows";
import { shortened } from "../helpers/library";

const templateIds = async (id: string) => (await messagesOf(id)).map((m) => m.template_id);

/** Waits out one shortened wait, then fires the contacts' alarms. */
async function nextWait(...ids: string[]): Promise<void> {
  await sleep(1100);
  for (const id of ids) await fireAlarm(id);
}

/** The email a library template renders to for a stored contact and a triggering event, through the preview API. */
async function rendered(templateId: string, contact: string, event?: Record<string, unknown>): Promise<{ subject: string; html: string }> {
  const template = LIBRARY.flatMap((e) => e.templates).find((t) => t.id === templateId);
  expect(template).toBeDefined();
  const res = await callJson(`/v1/templates/${templateId}/preview`, {
    method: "POST",
    body: { contact, template: { subject: template?.subject, html: template?.html }, ...(event ? { event } : {}) },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

async function runDailyCron(): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "17 3 * * *", scheduledTime: Date.now() }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);

const cart = {
  currency: "EUR",
  value: 40,
  cart_url: "https://shop.test/cart/abc",
  items: [
    { name: "Sencha green tea", price: 14, quantity: 2, image_url: "https://shop.test/img/sencha.jpg", url: "https://shop.test/sencha" },
    { name: "Cast-iron teapot", price: 12, quantity: 1, image_url: "https://shop.test/img/pot.jpg", url: "https://shop.test/pot" },
  ],
};

describe("abandoned cart run", () => {
  it("sends reminders after each wait and completes after the third", async () => {
    await activeFlow(shortened("abandoned-cart"));
    const id = await contactId("liba-cart@example.com");
    await track({ email: "liba-cart@example.com", name: "checkout_started", properties: cart });
    expect(await templateIds(id)).toEqual([]);
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["abandoned-cart-1"]);
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["abandoned-cart-1", "abandoned-cart-2"]);
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["abandoned-cart-1", "abandoned-cart-2", "abandoned-cart-3"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "abandoned-cart-run", status: "completed" }]);
  });

  it("exits when the order arrives before email 2, and does not chase a new checkout within the cooldown", async () => {
    await activeFlow(shortened("abandoned-cart"));
    const id = await contactId("liba-cart-ordered@example.com");
    await track({ email: "liba-cart-ordered@example.com", name: "checkout_started", properties: cart });
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["abandoned-cart-1"]);
    await track({ email: "liba-cart-ordered@example.com", name: "order_placed", value: 40, properties: cart });
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["abandoned-cart-1"]);
    await track({ email: "liba-cart-ordered@example.com", name: "checkout_started", properties: cart });
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["abandoned-cart-1"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "exited", exit_reason: "exit_event" }]);
  });

  it("shows the cart's product images, names and prices and links to the cart", async () => {
    await contactId("liba-cart-render@example.com", { first_name: "Ana" });
    const email = await rendered("abandoned-cart-1", "liba-cart-render@example.com", { name: "checkout_started", properties: cart });
    expect(email.html).toContain("Hi Ana,");
    expect(email.html).toContain("Sencha green tea");
    expect(email.html).toContain("× 2");
    expect(email.html).toContain("€14.00");
    expect(email.html).toContain('src="https://shop.test/img/pot.jpg"');
    expect(email.html).toContain("€40.00");
    expect(email).toMatchObject({ links: expect.arrayContaining(["https://shop.test/cart/abc", "https://shop.test/sencha"]) });
  });
});

describe("browse abandonment run", () => {
  const viewed = { name: "Sencha green tea", url: "https://shop.test/sencha", price: 14, currency: "EUR" };

  it("follows up a product view after the wait, once within the cooldown", async () => {
    await activeFlow(shortened("browse-abandonment"));
    const id = await contactId("liba-browse@example.com");
    await track({ email: "liba-browse@example.com", name: "product_viewed", properties: viewed });
    expect(await templateIds(id)).toEqual([]);
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["browse-abandonment-1"]);
    await track({ email: "liba-browse@example.com", name: "product_viewed", properties: viewed });
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["browse-abandonment-1"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "browse-abandonment-run", status: "completed" }]);
  });

  it("sends nothing when the visitor added to cart or ordered", async () => {
    await activeFlow(shortened("browse-abandonment"));
    const carted = await contactId("liba-browse-carted@example.com");
    const ordered = await contactId("liba-browse-ordered@example.com");
    await track([
      { email: "liba-browse-carted@example.com", name: "product_viewed", properties: viewed },
      { email: "liba-browse-ordered@example.com", name: "product_viewed", properties: viewed },
    ]);
    await track([
      { email: "liba-browse-carted@example.com", name: "added_to_cart", properties: viewed },
      { email: "liba-browse-ordered@example.com", name: "order_placed", value: 14 },
    ]);
    await nextWait(carted, ordered);
    expect(await templateIds(carted)).toEqual([]);
    expect(await templateIds(ordered)).toEqual([]);
    expect(await enrollmentsOf(carted)).toMatchObject([{ status: "exited", exit_reason: "exit_step" }]);
    expect(await enrollmentsOf(ordered)).toMatchObject([{ status: "exited", exit_reason: "exit_step" }]);
  });
});

describe("post-purchase run", () => {
  it("thanks at once, sends tips and related products, and asks for feedback only after a first order", async () => {
    await activeFlow(shortened("post-purchase"));
    const first = await contactId("liba-first-order@example.com");
    const regular = await contactId("liba-regular@example.com");
    await env.DB.prepare("UPDATE contacts SET orders_count = 3 WHERE id = ?").bind(regular).run();
    await track([
      { email: "liba-first-order@example.com", name: "order_placed", value: 40, properties: cart },
      { email: "liba-regular@example.com", name: "order_placed", value: 40, properties: cart },
    ]);
    expect(await templateIds(first)).toEqual(["post-purchase-1"]);
    await nextWait(first, regular);
    expect(await templateIds(first)).toEqual(["post-purchase-1", "post-purchase-2"]);
    await nextWait(first, regular);
    const withoutFeedback = ["post-purchase-1", "post-purchase-2", "post-purchase-3"];
    expect(await templateIds(first)).toEqual(withoutFeedback);
    await nextWait(first, regular);
    expect(await templateIds(first)).toEqual([...withoutFeedback, "post-purchase-feedback"]);
    expect(await templateIds(regular)).toEqual(withoutFeedback);
    expect(await enrollmentsOf(first)).toMatchObject([{ status: "completed" }]);
    expect(await enrollmentsOf(regular)).toMatchObject([{ status: "exited", exit_reason: "exit_step" }]);
  });
});

describe("re-engagement run", () => {
  const inactiveContact = async (email: string) => {
    const id = await contactId(email);
    await env.DB.prepare("UPDATE contacts SET created_at = ? WHERE id = ?")
      .bind(Date.now() - 90 * 86_400_000, id)
      .run();
    return id;
  };

  it("sends the offer and two follow-ups, then tags the silent contact dormant; a reader is not tagged, a click ends it", async () => {
    const silent = await inactiveContact("liba-silent@example.com");
    const reader = await inactiveContact("liba-reader@example.com");
    const clicker = await inactiveContact("liba-clicker@example.com");
    await activeFlow(shortened("re-engagement"));
    await runDailyCron();
    for (const id of [silent, reader, clicker]) expect(await templateIds(id)).toEqual(["re-engagement-1"]);
    await track([
      { email: "liba-reader@example.com", name: "email_opened" },
      { email: "liba-clicker@example.com", name: "email_clicked" },
    ]);
    await nextWait(silent, reader, clicker);
    await nextWait(silent, reader, clicker);
    const all = ["re-engagement-1", "re-engagement-2", "re-engagement-3"];
    expect(await templateIds(silent)).toEqual(all);
    expect(await templateIds(reader)).toEqual(all);
    expect(await templateIds(clicker)).toEqual(["re-engagement-1"]);
    await nextWait(silent, reader);

    const tags = async (email: string) => (await callJson(`/v1/contacts/${email}`)).body.tags;
    expect(await tags("liba-silent@example.com")).toEqual(["dormant"]);
    expect(await tags("liba-reader@example.com")).toEqual([]);
    expect(await tags("liba-clicker@example.com")).toEqual([]);
    expect(await enrollmentsOf(silent)).toMatchObject([{ flow_id: "re-engagement-run", status: "exited", exit_reason: "exit_step" }]);
    expect(await enrollmentsOf(reader)).toMatchObject([{ status: "exited", exit_reason: "exit_step" }]);
    expect(await enrollmentsOf(clicker)).toMatchObject([{ status: "completed", exit_reason: "goal" }]);
  });
});

describe("win-back run", () => {
  it("offers a come-back 90 days after the last order, follows up, and a new order ends it", async () => {
    const now = Date.now();
    const lapsed = await contactId("liba-winback@example.com", {
      first_name: "Mia",
      timezone: "UTC",
      attributes: { winback_code: "BACK-15" },
    });
    const returning = await contactId("liba-winback-returns@example.com", { timezone: "UTC" });
    const neverOrdered = await contactId("liba-winback-never@example.com", { timezone: "UTC" });
    await env.DB.prepare("UPDATE contacts SET last_order_at = ? WHERE id IN (?, ?)")
      .bind(now - 90 * 86_400_000, lapsed, returning)
      .run();
    const flow = shortened("win-back");
    const trigger = libraryEntry("win-back")?.flow.trigger as { date: Record<string, unknown> };
    expect(trigger.date).toMatchObject({ attribute: "last_order_at", offset: "90d" });
    // 90 days after the last order, at this minute; the daily scan finds it (activation's own scan may run alongside).
    await activeFlow({ ...flow, trigger: { date: { ...trigger.date, at: hhmm(now - 60_000) } } });
    await runDailyCron();
    expect(await templateIds(lapsed)).toEqual(["win-back-1"]);
    expect(await templateIds(returning)).toEqual(["win-back-1"]);
    expect(await templateIds(neverOrdered)).toEqual([]);
    await track({ contact_id: returning, name: "order_placed", value: 30 });
    await nextWait(lapsed, returning);
    expect(await templateIds(lapsed)).toEqual(["win-back-1", "win-back-2"]);
    expect(await templateIds(returning)).toEqual(["win-back-1"]);
    expect(await enrollmentsOf(returning)).toMatchObject([{ status: "completed", exit_reason: "goal" }]);

    const offer = await rendered("win-back-1", "liba-winback@example.com");
    expect(offer.subject).toBe("It has been a while, Mia: come back for something new");
    expect(offer.html).toContain("BACK-15");
    expect((await rendered("win-back-1", "liba-winback-returns@example.com")).html).not.toContain("code just for you");
  });
});

describe("birthday run", () => {
  it("greets on the birthday at its hour, reminds of the code later, and greets without a code when there is none", async () => {
    const now = Date.now();
    const today = new Date(now).toISOString().slice(5, 10);
    const withCode = await contactId("liba-birthday@example.com", {
      first_name: "Ana",
      timezone: "UTC",
      attributes: { birthday: `1990-${today}`, birthday_code: "HBD-ANA-15" },
    });
    const withoutCode = await contactId("liba-birthday-nocode@example.com", { timezone: "UTC", attributes: { birthday: `1992-${today}` } });
    const flow = shortened("birthday");
    const trigger = libraryEntry("birthday")?.flow.trigger as { date: Record<string, unknown> };
    await activeFlow({ ...flow, trigger: { date: { ...trigger.date, at: hhmm(now - 60_000) } } });
    await runDailyCron();
    expect(await templateIds(withCode)).toEqual(["birthday-1"]);
    expect(await templateIds(withoutCode)).toEqual(["birthday-1"]);
    await nextWait(withCode, withoutCode);
    expect(await templateIds(withCode)).toEqual(["birthday-1", "birthday-2"]);
    expect(await templateIds(withoutCode)).toEqual(["birthday-1"]);
    expect(await enrollmentsOf(withoutCode)).toMatchObject([{ status: "exited", exit_reason: "exit_step" }]);

    const gift = await rendered("birthday-1", "liba-birthday@example.com");
    expect(gift.subject).toBe("Happy birthday, Ana! 🎂");
    expect(gift.html).toContain("HBD-ANA-15");
    const greeting = await rendered("birthday-1", "liba-birthday-nocode@example.com");
    expect(greeting.subject).toBe("Happy birthday! 🎂");
    expect(greeting.html).toContain("Happy birthday, friend!");
    expect(greeting.html).toContain("the shop is full of new things");
    expect(greeting.html).not.toContain("use the code");
  });
});

describe("replenishment run", () => {
  const consumable = { ...cart, replenish_days: 10 };

  it("reminds after the order's replenish_days minus a week, and leaves out orders without it", async () => {
    await activeFlow(shortened("replenishment"));
    const id = await contactId("liba-refill@example.com");
    const durable = await contactId("liba-refill-durable@example.com");
    await track([
      { email: "liba-refill@example.com", name: "order_placed", value: 40, properties: consumable },
      { email: "liba-refill-durable@example.com", name: "order_placed", value: 40, properties: cart },
    ]);
    // Shortened, 10 "days" minus 7 is 3 seconds.
    await nextWait(id);
    expect(await templateIds(id)).toEqual([]);
    await sleep(2200);
    await fireAlarm(id);
    expect(await templateIds(id)).toEqual(["replenishment-1"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "replenishment-run", status: "completed" }]);
    expect(await enrollmentsOf(durable)).toEqual([]);
    const stats = await callJson("/v1/flows/replenishment-run/stats");
    expect(stats.body.steps[0].summary).toBe("for replenish_days (s) -7s");
  });

  it("starts the count again from a new order placed before the reminder", async () => {
    await activeFlow(shortened("replenishment"));
    const id = await contactId("liba-refill-again@example.com");
    await track({ email: "liba-refill-again@example.com", name: "order_placed", properties: consumable });
    await nextWait(id);
    await track({ email: "liba-refill-again@example.com", name: "order_placed", properties: { ...consumable, replenish_days: 9 } });
    await nextWait(id);
    expect(await templateIds(id)).toEqual([]);
    await nextWait(id);
    expect(await templateIds(id)).toEqual(["replenishment-1"]);
    expect(await enrollmentsOf(id)).toMatchObject([
      { status: "exited", exit_reason: "exit_event" },
      { status: "completed", exit_reason: "completed" },
    ]);
  });
});

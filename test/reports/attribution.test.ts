import { describe, expect, it } from "vitest";
import { insertEvents } from "../../src/db/events";
import { type Env, readConfig } from "../../src/env";
import { attributionWindows } from "../../src/reports/attribution";
import { rollupEvents } from "../../src/reports/rollups";
import { DAY, db, event, insertContact, insertMessage, rollupTable, store } from "./seed";

const T = Date.UTC(2026, 10, 10, 12, 0, 0);
const today = new Date(T).toISOString().slice(0, 10);
const HOUR = 3_600_000;

/** Two emails of two steps sent to one contact, so a credit shows which one earned the order. */
async function twoEmails() {
  await insertContact("c1");
  await insertMessage({ id: "clicked", contactId: "c1", flowId: "cart", stepId: "remind", variant: "cart-a" });
  await insertMessage({ id: "opened", contactId: "c1", flowId: "welcome", stepId: "hello", variant: null });
}

/** The conversions and revenue rows of the rollups. */
async function credits() {
  const rows = await rollupTable();
  return Object.fromEntries(
    Object.entries(rows)
      .filter(([, r]) => r.conversions)
      .map(([k, r]) => [k, { conversions: r.conversions, revenue: r.revenue }]),
  );
}

describe("an order is credited to the last email clicked within the click window", () => {
  it("a click 4 days before the order earns its value and one conversion, on the order's day", async () => {
    await twoEmails();
    await store([event("email_clicked", "c1", T - 4 * DAY, { messageId: "clicked" })], T);
    await store([event("order_placed", "c1", T, { value: 42.5 })], T);
    expect(await credits()).toEqual({ [`cart|${today}|remind|cart-a`]: { conversions: 1, revenue: 42.5 } });
  });

  it("a click wins over a more recent open", async () => {
    await twoEmails();
    await store(
      [event("email_clicked", "c1", T - 3 * DAY, { messageId: "clicked" }), event("email_opened", "c1", T - HOUR, { messageId: "opened" })],
      T,
    );
    await store([event("order_placed", "c1", T, { value: 10 })], T);
    expect(await credits()).toEqual({ [`cart|${today}|remind|cart-a`]: { conversions: 1, revenue: 10 } });
  });

  it("of two clicks, the later one earns the order", async () => {
    await twoEmails();
    await store(
      [event("email_clicked", "c1", T - 2 * DAY, { messageId: "clicked" }), event("email_clicked", "c1", T - DAY, { messageId: "opened" })],
      T,
    );
    await store([event("order_placed", "c1", T, { value: 7 })], T);
    expect(await credits()).toEqual({ [`welcome|${today}|hello|`]: { conversions: 1, revenue: 7 } });
  });

  it("a click after the order earns nothing", async () => {
    await twoEmails();
    await store([event("email_clicked", "c1", T + HOUR, { messageId: "clicked" })], T);
    await store([event("order_placed", "c1", T, { value: 7 })], T);
    expect(await credits()).toEqual({});
  });
});

describe("without a click, the last email opened within the open window earns the order", () => {
  it("a click older than 5 days loses to an open 12 hours before the order", async () => {
    await twoEmails();
    await store(
      [
        event("email_clicked", "c1", T - 6 * DAY, { messageId: "clicked" }),
        event("email_opened", "c1", T - 12 * HOUR, { messageId: "opened" }),
      ],
      T,
    );
    await store([event("order_placed", "c1", T, { value: 99 })], T);
    expect(await credits()).toEqual({ [`welcome|${today}|hello|`]: { conversions: 1, revenue: 99 } });
  });

  it("an open older than 1 day earns nothing", async () => {
    await twoEmails();
    await store([event("email_opened", "c1", T - 25 * HOUR, { messageId: "opened" })], T);
    await store([event("order_placed", "c1", T, { value: 99 })], T);
    expect(await credits()).toEqual({});
  });
});

describe("machine opens and clicks never earn an order", () => {
  it("a scanner's click is skipped and the human open earns the order", async () => {
    await twoEmails();
    await store(
      [
        event("email_clicked", "c1", T - HOUR, { messageId: "clicked", machine: true }),
        event("email_opened", "c1", T - 2 * HOUR, { messageId: "opened" }),
      ],
      T,
    );
    await store([event("order_placed", "c1", T, { value: 5 })], T);
    expect(await credits()).toEqual({ [`welcome|${today}|hello|`]: { conversions: 1, revenue: 5 } });
  });
});

describe("only orders with a value are attributed", () => {
  it("an order_placed without value and another contact's order earn nothing", async () => {
    await twoEmails();
    await insertContact("c2");
    await store([event("email_clicked", "c1", T - HOUR, { messageId: "clicked" })], T);
    await store([event("order_placed", "c1", T), event("order_placed", "c2", T, { value: 30 })], T);
    expect(await credits()).toEqual({});
  });
});

describe("the windows are configurable", () => {
  it("with a 1-day click window and a 3-day open window, a 2-day-old click loses to a 2-day-old open", async () => {
    await twoEmails();
    const rows = [
      event("email_clicked", "c1", T - 2 * DAY - HOUR, { messageId: "clicked" }),
      event("email_opened", "c1", T - 2 * DAY, { messageId: "opened" }),
    ];
    await insertEvents(db(), rows, T);
    const order = event("order_placed", "c1", T, { value: 3 });
    await insertEvents(db(), [order], T);
    await rollupEvents(db(), [order], T, { clickMs: DAY, openMs: 3 * DAY });
    expect(await credits()).toEqual({ [`welcome|${today}|hello|`]: { conversions: 1, revenue: 3 } });
  });
});

describe("ATTRIBUTION_CLICK_WINDOW and ATTRIBUTION_OPEN_WINDOW", () => {
  const base = { ADMIN_API_KEY: "k".repeat(20), SIGNING_SECRET: "s".repeat(20) } as unknown as Env;
  it("default to 5 days and 1 day, and accept durations such as 12h or 2w", () => {
    expect(attributionWindows(readConfig({ ...base }))).toEqual({ clickMs: 5 * DAY, openMs: DAY });
    expect(attributionWindows(readConfig({ ...base, ATTRIBUTION_CLICK_WINDOW: "2w", ATTRIBUTION_OPEN_WINDOW: "12h" }))).toEqual({
      clickMs: 14 * DAY,
      openMs: 12 * HOUR,
    });
  });
  it("refuse anything else at start-up", () => {
    expect(() => readConfig({ ...base, ATTRIBUTION_OPEN_WINDOW: "yesterday" })).toThrow(/ATTRIBUTION_OPEN_WINDOW/);
  });
});

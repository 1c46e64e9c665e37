import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { applyRetention, EVENT_PAGE, EVENT_PAGES, EXPIRING_EVENT_NAMES, RETENTION_MAX_STATEMENTS } from "../../src/db/retention";
import worker from "../../src/index";
import { callJson } from "../helpers/api";
import { countRows } from "../helpers/db";
import { DAY, db, event, insertContact, insertFlow, insertMessage, random, rollupTable, store } from "../reports/seed";

const NOW = Date.UTC(2027, 5, 1, 3, 17, 0);
const RETENTION = 400; // wrangler.toml's RETENTION_DAYS
const OLD = NOW - 450 * DAY;
const RECENT = NOW - 10 * DAY;
const day = (ts: number) => new Date(ts).toISOString().slice(0, 10);
const RANGE = `from=${day(NOW - 700 * DAY)}&to=${day(NOW)}`;
const STEPS = ["hello", "value", "last"];

/** The daily cron, as Cloudflare fires it. */
async function runDailyCron(at: number): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "17 3 * * *", scheduledTime: at }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** Every report a shop reads: the flow's stats and the overview over the whole history. */
async function reports() {
  const flow = await callJson(`/v1/flows/welcome/stats?${RANGE}`);
  const overview = await callJson(`/v1/stats/overview?${RANGE}`);
  expect([flow.status, overview.status]).toEqual([200, 200]);
  return { flow: flow.body, overview: overview.body, rollups: await rollupTable() };
}

async function countEvents(where: string): Promise<number> {
  return Number(await env.DB.prepare(`SELECT count(*) AS n FROM events WHERE ${where}`).first("n"));
}

async function eventNames(where: string): Promise<string[]> {
  const { results } = await env.DB.prepare(`SELECT name FROM events WHERE ${where} ORDER BY rowid`).all<{ name: string }>();
  return results.map((r) => r.name);
}

/**
 * A history of 40 contacts, each sent a message of the welcome flow around `at`: sends, deliveries, human and
 * machine opens, clicks, page views and orders, stored (and rolled up) when they happened.
 */
async function seedHistory(at: number, prefix: string, seed: number) {
  const rnd = random(seed);
  for (let i = 0; i < 40; i++) {
    const contact = `${prefix}c${i}`;
    const message = `${prefix}m${i}`;
    const sentAt = at + i * 3_600_000;
    const step = STEPS[i % STEPS.length]!;
    const properties = { flow_id: "welcome", step_id: step, variant: null };
    await insertContact(contact);
    await insertMessage({ id: message, contactId: contact, flowId: "welcome", stepId: step, variant: null, sentAt });
    const rows = [event("email_sent", contact, sentAt, { messageId: message, properties })];
    rows.push(event("email_delivered", contact, sentAt + 1000, { messageId: message, properties }));
    if (rnd.next() < 0.3) rows.push(event("email_opened", contact, sentAt + 2000, { messageId: message, machine: true, properties }));
    for (let k = rnd.int(3); k > 0; k--) rows.push(event("email_opened", contact, sentAt + 60_000 * k, { messageId: message, properties }));
    for (let k = rnd.int(3); k > 0; k--) {
      rows.push(
        event("email_clicked", contact, sentAt + 200_000 * k, {
          messageId: message,
          properties: { ...properties, url: "https://shop.test" },
        }),
      );
    }
    rows.push(event("page_viewed", contact, sentAt + 300_000, { properties: { url: "https://shop.test/p" } }));
    if (rnd.next() < 0.5) rows.push(event("order_placed", contact, sentAt + 400_000, { value: 20 + rnd.int(80) }));
    // Stored as they happened, one contact's day at a time, so rollups and attribution saw them in order.
    await store(rows, sentAt + 500_000);
  }
}

async function seedFlow() {
  await insertFlow("welcome", { id: "welcome", name: "Welcome", steps: STEPS.map((id) => ({ id, type: "email", template: id })) });
}

describe("retention deletes raw tracking events older than RETENTION_DAYS and reports stay the same", () => {
  it("leaves flow stats, the overview and the rollups unchanged while old raw events go and recent ones stay", async () => {
    await seedFlow();
    await seedHistory(OLD, "old", 1);
    await seedHistory(RECENT, "new", 2);
    const before = await reports();
    // Something to lose: sends, unique and machine opens, clicks and attributed revenue in both periods.
    expect(before.flow.totals).toMatchObject({ sent: 80, delivered: 80 });
    for (const counter of ["opened", "clicked", "machine_opened", "revenue"]) expect(before.flow.totals[counter]).toBeGreaterThan(0);
    const recentBefore = await eventNames(`ts >= ${NOW - RETENTION * DAY}`);
    const oldOrders = await countEvents(`name = 'order_placed' AND ts < ${NOW - RETENTION * DAY}`);

    await runDailyCron(NOW);

    expect(await reports()).toEqual(before);
    expect(await eventNames(`ts >= ${NOW - RETENTION * DAY}`)).toEqual(recentBefore);
    const cutoff = NOW - RETENTION * DAY;
    expect(await countEvents(`ts < ${cutoff} AND name IN ('email_sent', 'email_delivered', 'page_viewed')`)).toBe(0);
    expect(await countEvents(`ts < ${cutoff} AND name IN ('email_opened', 'email_clicked') AND machine = 1`)).toBe(0);
    // Orders are not tracking events: attribution and order history keep them.
    expect(await countEvents(`name = 'order_placed' AND ts < ${cutoff}`)).toBe(oldOrders);
    expect(oldOrders).toBeGreaterThan(0);
  });

  it("keeps only each old message's first human open or click and first human click, so a late open is not a new unique open", async () => {
    await seedFlow();
    await insertContact("late");
    await insertMessage({ id: "mlate", contactId: "late", flowId: "welcome", stepId: "hello", variant: null, sentAt: OLD });
    const p = { flow_id: "welcome", step_id: "hello", variant: null };
    await store(
      [
        event("email_opened", "late", OLD + 1000, { messageId: "mlate", machine: true, properties: p }),
        event("email_opened", "late", OLD + 2000, { messageId: "mlate", properties: p }),
        event("email_opened", "late", OLD + 3000, { messageId: "mlate", properties: p }),
        event("email_clicked", "late", OLD + 4000, { messageId: "mlate", properties: p }),
        event("email_clicked", "late", OLD + 5000, { messageId: "mlate", properties: p }),
      ],
      OLD + 10_000,
    );
    await runDailyCron(NOW);
    expect(await eventNames("message_id = 'mlate'")).toEqual(["email_opened", "email_clicked"]);

    const before = await rollupTable();
    await store(
      [
        event("email_opened", "late", NOW, { messageId: "mlate", properties: p }),
        event("email_clicked", "late", NOW + 1, { messageId: "mlate", properties: p }),
      ],
      NOW + 2,
    );
    const after = await rollupTable();
    const today = `welcome|${day(NOW)}|hello|`;
    expect(after[today]?.unique_opens).toBeUndefined();
    expect(after[today]?.unique_clicks).toBeUndefined();
    expect({ ...after, [today]: undefined }).toEqual({ ...before, [today]: undefined });
  });

  it("keeps an old-dated event stored less than a day ago (a backfill), whose rollup may still be running", async () => {
    await insertContact("backfill");
    await store([event("page_viewed", "backfill", OLD)], NOW - 3_600_000);
    await runDailyCron(NOW);
    expect(await eventNames("contact_id = 'backfill'")).toEqual(["page_viewed"]);
  });

  it("deletes exactly at the cutoff: an event one day younger than RETENTION_DAYS stays", async () => {
    await insertContact("edge");
    await store([event("page_viewed", "edge", NOW - (RETENTION + 1) * DAY), event("email_sent", "edge", NOW - (RETENTION - 1) * DAY)], OLD);
    await runDailyCron(NOW);
    expect(await eventNames("contact_id = 'edge'")).toEqual(["email_sent"]);
  });
});

describe("retention clears the bodies of messages sent more than 30 days ago and keeps the row", () => {
  it("sets html and text to null on old sent messages only", async () => {
    await insertContact("b");
    const insert = (id: string, status: string, sentAt: number | null) =>
      env.DB.prepare(
        "INSERT INTO messages (id, contact_id, to_email, kind, status, due_at, created_at, sent_at, subject, html, text) VALUES (?, 'b', 'b@example.com', 'marketing', ?, 0, 0, ?, 'Hi', '<p>Hi</p>', 'Hi')",
      )
        .bind(id, status, sentAt)
        .run();
    await insert("old-sent", "sent", NOW - 31 * DAY);
    await insert("young-sent", "sent", NOW - 29 * DAY);
    await insert("old-failed", "failed", null);
    await runDailyCron(NOW);
    const { results } = await env.DB.prepare("SELECT id, status, sent_at, subject, html, text FROM messages ORDER BY id").all();
    expect(results).toEqual([
      { id: "old-failed", status: "failed", sent_at: null, subject: "Hi", html: "<p>Hi</p>", text: "Hi" },
      { id: "old-sent", status: "sent", sent_at: NOW - 31 * DAY, subject: "Hi", html: null, text: null },
      { id: "young-sent", status: "sent", sent_at: NOW - 29 * DAY, subject: "Hi", html: "<p>Hi</p>", text: "Hi" },
    ]);
  });
});

describe("retention deletes send batches past the idempotency window and old webhook receipts", () => {
  it("deletes answered batches older than 2 days and open ones no message waits on; keeps the rest", async () => {
    const batch = (id: string, status: string, updatedAt: number) =>
      env.DB.prepare("INSERT INTO send_batches (id, status, attempts, created_at, updated_at) VALUES (?, ?, 1, ?, ?)")
        .bind(id, status, updatedAt, updatedAt)
        .run();
    await batch("done-old", "done", NOW - 3 * DAY);
    await batch("done-young", "done", NOW - DAY);
    await batch("open-orphaned", "open", NOW - 3 * DAY);
    await batch("open-waiting", "open", NOW - 3 * DAY);
    await env.DB.prepare(
      "INSERT INTO messages (id, to_email, kind, status, due_at, created_at, batch_id) VALUES ('q', 'q@example.com', 'marketing', 'queued', 0, 0, 'open-waiting')",
    ).run();
    await env.DB.prepare("INSERT INTO webhook_receipts (svix_id, received_at) VALUES ('msg_old', ?), ('msg_young', ?)")
      .bind(NOW - 8 * DAY, NOW - 6 * DAY)
      .run();
    await runDailyCron(NOW);
    const batches = await env.DB.prepare("SELECT id FROM send_batches ORDER BY id").all<{ id: string }>();
    expect(batches.results.map((b) => b.id)).toEqual(["done-young", "open-waiting"]);
    const receipts = await env.DB.prepare("SELECT svix_id FROM webhook_receipts").all<{ svix_id: string }>();
    expect(receipts.results.map((r) => r.svix_id)).toEqual(["msg_young"]);
  });
});

describe("retention works in bounded pages and resumes on the next run", () => {
  it("deletes 105,000 expired events over two runs, newest first, each within the statement budget", async () => {
    // Seeded in one statement: the old page views of a busy site.
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 104999)
       INSERT INTO events (id, contact_id, name, properties, source, machine, ts, received_at)
       SELECT 'pv' || i, 'c' || (i % 500), 'page_viewed', '{"url":"https://shop.test/p"}', 'collect', 0, ${OLD} + i * 1000, ${OLD} FROM n`,
    ).run();
    let statements = 0;
    const counted = new Proxy(env.DB, {
      get(target, prop, receiver) {
        if (prop === "prepare") statements++;
        const value = Reflect.get(target, prop, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const first = await applyRetention(openDatabase(counted), NOW, RETENTION);
    expect(first).toMatchObject({ events: EVENT_PAGE * EVENT_PAGES, complete: false });
    expect(EVENT_PAGE * EVENT_PAGES).toBe(100_000);
    expect(statements).toBeLessThanOrEqual(RETENTION_MAX_STATEMENTS);
    expect(RETENTION_MAX_STATEMENTS).toBeLessThan(50);
    // Newest first: what is left for tomorrow is the oldest.
    expect(Number(await env.DB.prepare("SELECT max(ts) AS t FROM events").first("t"))).toBe(OLD + 4999 * 1000);

    const second = await applyRetention(db(), NOW + DAY, RETENTION);
    expect(second).toMatchObject({ events: 5000, complete: true });
    expect(await countRows("events")).toBe(0);
  });
});

describe("retention walks a partial index that matches what it deletes", () => {
  it("indexes exactly the expiring event names", async () => {
    const index = String(await env.DB.prepare("SELECT sql FROM sqlite_master WHERE name = 'events_expiring_ts_idx'").first("sql"));
    const listed = [...(index.match(/IN \(([^)]*)\)/)?.[1] ?? "").matchAll(/'([a-z_]+)'/g)].map((m) => m[1]);
    expect(listed).toEqual([...EXPIRING_EVENT_NAMES]);
  });
});

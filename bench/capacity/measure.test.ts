/**
 * The capacity measurement (`npm run capacity`, bench/capacity.mjs prints it as
 * tables): what Cloudflare bills per contact imported, per flow email, per
 * broadcast email, per open, per click and per snippet page view, counted
 * around the real bindings while the real Worker does the work; then the bytes
 * a contact, an event and a message take in D1 with their indexes, from a
 * database grown to 100,000 contacts and 1,000,000 events by copying the rows
 * the real paths wrote. It prints one `CAPACITY {json}` line.
 */
import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { expect, inject, it } from "vitest";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { TRACKING_QUEUE } from "../../src/tracking/consumer";
import { deliver, queued } from "../../test/helpers/queue";
import { fakeResend, providerEnv } from "../../test/helpers/resend";
import { meterContactTimer, meteredEnv, newTally, settle, type Tally } from "./meter";

const ORIGIN = "https://nurture.test";
const SIZES = inject("capacitySizes");
const AUDIENCE = SIZES.audience;
const GROWN = { contacts: SIZES.contacts, events: SIZES.events };
const admin = { authorization: `Bearer ${env.ADMIN_API_KEY}` };
const BROWSER = {
  "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
  "cf-connecting-ip": "203.0.113.9",
};

async function request(target: Env, method: string, path: string, body?: unknown, headers: Record<string, string> = admin) {
  const ctx = createExecutionContext();
  const init: RequestInit = { method, headers: { ...headers, ...(body === undefined ? {} : { "content-type": "application/json" }) } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await worker.fetch(new Request(`${ORIGIN}${path}`, { ...init, redirect: "manual" }), target, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

async function everyMinuteCron(target: Env, at: number) {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "* * * * *", scheduledTime: at }), target, ctx);
  await waitOnExecutionContext(ctx);
}

/** Meters every contact's ContactTimer into `tally` (they are created on first use, so this also creates them). */
async function meterTimers(ids: string[], target: Env, tally: Tally) {
  for (const id of ids) {
    const stub = env.CONTACT_TIMER.get(env.CONTACT_TIMER.idFromName(id));
    await runInDurableObject(stub, (instance) => meterContactTimer(instance, target, tally));
  }
}

/** A producer that keeps what the tracking routes send, for the metered consumer to take. */
function capturingQueue() {
  const bodies: unknown[] = [];
  const queue = {
    send: async (body: unknown) => void bodies.push(body),
    sendBatch: async (messages: Iterable<{ body: unknown }>) => {
      for (const m of messages) bodies.push(m.body);
    },
  } as unknown as Queue;
  return { queue, take: () => bodies.splice(0) };
}

const perUnit = (tally: Tally, units: number) =>
  Object.fromEntries(Object.entries(settle(tally)).map(([k, v]) => [k, Math.round((v / units) * 1000) / 1000]));

async function databaseBytes(): Promise<number> {
  return (await env.DB.prepare("SELECT 1").run()).meta.size_after as number;
}

async function rowCount(table: string): Promise<number> {
  return (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())!.n;
}

/** Copies the table's existing rows until it holds `target` rows, with fresh ids (and emails): bytes added per row. */
async function grow(table: string, target: number, fresh: Record<string, string>): Promise<number> {
  const columns = (await env.DB.prepare(`SELECT name FROM pragma_table_info('${table}')`).all<{ name: string }>()).results.map(
    (c) => c.name,
  );
  const before = await databaseBytes();
  const start = await rowCount(table);
  const chunk = 50_000;
  for (let have = start; have < target; ) {
    const take = Math.min(chunk, target - have);
    const select = columns.map((c) => fresh[c] ?? c).join(", ");
    // Each pass copies the first `take` rows of the original sample, cycled, under new ids.
    await env.DB.prepare(
      `INSERT INTO ${table} (${columns.join(", ")})
       WITH RECURSIVE seq(n) AS (SELECT ${have} UNION ALL SELECT n + 1 FROM seq WHERE n < ${have + take - 1}),
       sample AS (SELECT *, row_number() OVER () - 1 AS k FROM (SELECT * FROM ${table} LIMIT ${start}))
       SELECT ${select} FROM seq JOIN sample ON sample.k = seq.n % ${start}`,
    ).run();
    have += take;
  }
  const rows = (await rowCount(table)) - start;
  return Math.round(((await databaseBytes()) - before) / rows);
}

it(`measures billed units per contact, email, open and click, and bytes per row (${AUDIENCE} contacts, grown to ${GROWN.contacts} / ${GROWN.events})`, {
  timeout: 1_800_000,
}, async () => {
  fakeResend();
  const base = providerEnv({ SEND_RATE_PER_SECOND: "100" });
  const links = Array.from({ length: 3 }, (_, i) => `<p><a href="https://shop.test/p/${i}">Product ${i}</a></p>`).join("");
  const html = `<h1>Hi {{ contact.first_name }}</h1><p>Welcome to the shop.</p>${links}`;
  for (const id of ["welcome", "sale"])
    expect((await request(base, "PUT", `/v1/templates/${id}`, { subject: "Hello", html })).status).toBeLessThan(300);
  const flow = { name: "Welcome", trigger: { event: "signed_up" }, steps: [{ id: "hello", type: "email", template: "welcome" }] };
  expect((await request(base, "PUT", "/v1/flows/welcome", flow)).status).toBeLessThan(300);
  expect((await request(base, "POST", "/v1/flows/welcome/activate")).status).toBe(200);

  // Import, as the dashboard's importer does (one call of up to 1,000 rows).
  const people = Array.from({ length: AUDIENCE }, (_, i) => ({
    email: `reader${i}@example.com`,
    first_name: `Reader${i}`,
    last_name: "Example",
    timezone: "Europe/Berlin",
    consent: "subscribed",
    tags: ["newsletter"],
    attributes: { city: "Berlin", plan: "gold" },
  }));
  const importTally = newTally();
  expect((await request(meteredEnv(base, importTally), "POST", "/v1/contacts/batch", people)).status).toBe(200);
  const ids = (await env.DB.prepare("SELECT id FROM contacts ORDER BY email").all<{ id: string }>()).results.map((r) => r.id);
  expect(ids).toHaveLength(AUDIENCE);

  // A server event starts the flow; its email goes out from the ContactTimer or the next cron.
  const flowTally = newTally();
  await meterTimers(ids, base, flowTally);
  const events = ids.map((id, i) => ({ id: `signup-${i}`, contact_id: id, name: "signed_up" }));
  expect((await request(meteredEnv(base, flowTally), "POST", "/v1/events", events)).status).toBeLessThan(300);
  await everyMinuteCron(meteredEnv(base, flowTally), Date.now());
  const sent = (
    await env.DB.prepare("SELECT id, html FROM messages WHERE status = 'sent' AND flow_id = 'welcome'").all<{ id: string; html: string }>()
  ).results;
  expect(sent).toHaveLength(AUDIENCE);

  // Every reader opens once and clicks one link, from a browser; the TRACKING queue's consumer records them in
  // batches of up to 100, as Queues delivers them (the queue is captured so its consumer runs metered too).
  const openTally = newTally();
  const clickTally = newTally();
  const trackingQueue = capturingQueue();
  await meterTimers(ids, base, openTally);
  for (const message of sent) {
    const open = /src="https:\/\/nurture\.test(\/o\/[^"]+)"/.exec(message.html)![1]!;
    const res = await request({ ...meteredEnv(base, openTally), TRACKING: trackingQueue.queue }, "GET", open, undefined, BROWSER);
    expect(res.status).toBe(200);
  }
  await deliver(TRACKING_QUEUE, queued(trackingQueue.take()), meteredEnv(base, openTally));
  await meterTimers(ids, base, clickTally);
  for (const message of sent) {
    const click = /href="https:\/\/nurture\.test(\/c\/[^"]+)"/.exec(message.html)![1]!;
    const res = await request({ ...meteredEnv(base, clickTally), TRACKING: trackingQueue.queue }, "GET", click, undefined, BROWSER);
    expect(res.status).toBe(302);
  }
  await deliver(TRACKING_QUEUE, queued(trackingQueue.take()), meteredEnv(base, clickTally));
  expect(await rowCount("events WHERE name = 'email_opened'")).toBe(AUDIENCE);
  expect(await rowCount("events WHERE name = 'email_clicked'")).toBe(AUDIENCE);

  // A broadcast to everyone: the cron fans it out in pages and delivers it.
  const broadcastTally = newTally();
  const broadcast = { name: "Sale", template: "sale", audience: { all: true } };
  expect((await request(base, "PUT", "/v1/broadcasts/sale", broadcast)).status).toBeLessThan(300);
  expect((await request(meteredEnv(base, broadcastTally), "POST", "/v1/broadcasts/sale/send", {})).status).toBeLessThan(300);
  for (let minute = 0; minute < 20 && (await rowCount("messages WHERE broadcast_id = 'sale' AND status = 'sent'")) < AUDIENCE; minute++) {
    await everyMinuteCron(meteredEnv(base, broadcastTally), Date.now() + minute * 60_000);
  }
  expect(await rowCount("messages WHERE broadcast_id = 'sale' AND status = 'sent'")).toBe(AUDIENCE);

  // Snippet page views from the shop's pages.
  const pageTally = newTally();
  for (let i = 0; i < AUDIENCE; i++) {
    const view = { site_key: env.SITE_KEY, anonymous_id: `anonymous-visitor-${i}`, type: "page", url: `https://shop.test/p/${i % 7}` };
    // Each visitor from their own address, as on a real shop (collect is rate-limited per client IP).
    const visitor = { ...BROWSER, origin: "https://shop.test", "cf-connecting-ip": `198.51.100.${i % 250}` };
    const res = await request(meteredEnv(base, pageTally), "POST", "/v1/collect", view, visitor);
    expect(res.status).toBe(202);
  }

  const messageBody = (await env.DB.prepare(
    "SELECT avg(length(html) + length(coalesce(text, ''))) AS n FROM messages WHERE status = 'sent'",
  ).first<{ n: number }>())!.n;

  // Bytes: grow the database from the rows the real paths wrote.
  const bytesPerContact = await grow("contacts", GROWN.contacts, {
    id: "printf('c_grow_%08d', seq.n)",
    email: "printf('grown%08d@example.com', seq.n)",
  });
  const bytesPerEvent = await grow("events", GROWN.events, {
    id: "printf('e_grow_%010d', seq.n)",
    contact_id: `printf('c_grow_%08d', seq.n % ${GROWN.contacts})`,
  });
  const bytesPerMessage = await grow("messages", GROWN.contacts, { id: "printf('m_grow_%08d', seq.n)" });

  const results = {
    contacts: AUDIENCE,
    perContactImported: perUnit(importTally, AUDIENCE),
    perFlowEmail: perUnit(flowTally, AUDIENCE),
    perBroadcastEmail: perUnit(broadcastTally, AUDIENCE),
    perOpen: perUnit(openTally, AUDIENCE),
    perClick: perUnit(clickTally, AUDIENCE),
    perPageView: perUnit(pageTally, AUDIENCE),
    bytes: {
      contact: bytesPerContact,
      event: bytesPerEvent,
      message: bytesPerMessage,
      messageBody: Math.round(messageBody),
      database: await databaseBytes(),
      rows: { contacts: await rowCount("contacts"), events: await rowCount("events"), messages: await rowCount("messages") },
    },
  };
  console.log(`CAPACITY ${JSON.stringify(results)}`);
});

/**
 * A broadcast from the dashboard alone, in a real browser: compose it for a
 * segment, preview the template, count the audience, send a test to an
 * address typed in (it lands in the dev mailbox marked [Test]), schedule it
 * for the next minute, confirm with the final count, and watch it go out
 * (the harness fires the every-minute cron) and the report fill in; then a
 * reader opens it (its pixel), clicks its tracked link and buys, and the report
 * page shows that open, that click and the order's attributed revenue.
 * Screenshots go to test-artifacts/e2e/; with UPDATE_SCREENSHOTS=1 the
 * compose and report shots are also copied to docs/screenshots/ for the README.
 * Then a seasonal sale to the same segment, its customers now in three time
 * zones: two subject lines tested on 20%, at 09:00 in each customer's zone.
 */
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ARTIFACTS,
  adminApi,
  DESKTOP_USER_AGENT,
  eventually,
  executeSql,
  freePort,
  launchBrowser,
  logIn,
  querySql,
  type RunningWorker,
  screenshot,
  startWorker,
  workerFetch,
} from "./harness.ts";

let worker: RunningWorker;
let browser: Browser;
let page: Page;
/** The shop the sale links to: a page on loopback, so that following a tracked link stays on this machine. */
let shop: Server;
let shopUrl: string;

const api = <T = any>(pathname: string, init?: { method?: string; body?: unknown }) => adminApi<T>(worker, pathname, init);

const shot = (name: string, publishAs?: string) => screenshot(page, name, publishAs);

/** Fires the every-minute cron (broadcast fan-out, then delivery) as Cloudflare would. */
const fireCron = () => workerFetch(`${worker.url}/__scheduled?cron=${encodeURIComponent("* * * * *")}`, { method: "GET" });

const VIPS = ["ada@example.com", "bob@example.com", "cy@example.com"];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const port = await freePort();
  shopUrl = `http://127.0.0.1:${port}`;
  shop = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>Sale</title><h1>The sale</h1>");
  });
  await new Promise<void>((resolve) => shop.listen(port, "127.0.0.1", resolve));
  worker = await startWorker();
  await api("/v1/templates/spring-sale", {
    method: "PUT",
    body: {
      subject: "Our spring sale, {{ contact.first_name }}",
      html: `<html><body><h1>Spring sale</h1><p>Hi {{ contact.first_name }}, everything is 20% off this week.</p><a href="${shopUrl}/sale">Shop the sale</a></body></html>`,
    },
  });
  for (const email of VIPS)
    await api("/v1/contacts", { method: "PUT", body: { email, first_name: email.split("@")[0], consent: "subscribed", tags: ["vip"] } });
  await api("/v1/contacts", { method: "PUT", body: { email: "out@example.com", consent: "unsubscribed", tags: ["vip"] } });
  await api("/v1/contacts", { method: "PUT", body: { email: "other@example.com", consent: "subscribed" } });
  await api("/v1/segments/vip", { method: "PUT", body: { name: "VIPs", condition: { tag: "vip" } } });
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await logIn(page, worker);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await new Promise((resolve) => shop?.close(resolve));
});

describe("a broadcast from the dashboard", () => {
  it("composes it: template preview, the VIP segment counted after consent, a test to an address typed in", async () => {
    await page.click('header a:has-text("Broadcasts")');
    await page.click('a:has-text("New broadcast")');
    await page.fill("#f-id", "spring-sale");
    await page.fill("#f-name", "Spring sale");
    await page.selectOption("#f-template", "spring-sale");
    await page.click('button[value="preview"]');
    await expect(page.textContent("#preview-subject")).resolves.toBe("Our spring sale, Ada");
    const frame = page.frameLocator("iframe.mail");
    await expect(frame.locator("h1").textContent()).resolves.toBe("Spring sale");

    await page.selectOption("#f-audience", "segment:vip");
    await page.click('button[value="count"]');
    // ada, bob and cy: out@ is unsubscribed, other@ is not in the segment.
    await expect(page.getAttribute("#audience-count b", "data-count")).resolves.toBe("3");

    await page.fill("#f-skip_if_emailed_within", "16h");
    await page.fill("#f-test_to", "me@shop.example");
    await page.click('button[value="test"]');
    await expect(page.textContent("#notice")).resolves.toContain("A test of each version went to me@shop.example.");
    await page.click('header a:has-text("Mailbox")');
    await page.click('#mailbox a:has-text("[Test] Our spring sale, Ada")');
    await expect(page.textContent("h1")).resolves.toBe("[Test] Our spring sale, Ada");
    expect((await api("/v1/broadcasts/spring-sale/stats")).outcomes.total).toBe(0);
  });

  it("schedules it for the next minute, confirms the final count, and it goes out to the mailbox with the report filling in", async () => {
    await page.goto(`${worker.url}/admin/broadcasts/spring-sale`);
    await page.check('input[name="when"][value="at"]');
    // The next whole minute at least 20 s away, in UTC as the form asks.
    const at = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000);
    await page.fill("#f-send_at", at.toISOString().slice(0, 16));
    await shot("broadcast-compose", "broadcast-compose");
    await page.click('button[value="review"]');
    await page.waitForURL(`${worker.url}/admin/broadcasts/spring-sale/confirm`);
    await expect(page.getAttribute("#final-count", "data-count")).resolves.toBe("3");
    await page.click("#confirm-send");
    await page.waitForURL(/\/admin\/broadcasts\/spring-sale\?done=scheduled$/);
    await expect(page.textContent("h1 .badge")).resolves.toBe("scheduled");

    // The cron before send_at leaves it scheduled; after it, it is queued and sent.
    await fireCron();
    expect((await api("/v1/broadcasts/spring-sale")).status).toBe("scheduled");
    const deadline = Date.now() + 150_000;
    while (Date.now() < at.getTime() + 1_000) await new Promise((r) => setTimeout(r, 1_000));
    let status = "";
    while (Date.now() < deadline) {
      await fireCron();
      status = (await api("/v1/broadcasts/spring-sale")).status;
      if (status === "sent") break;
      await new Promise((r) => setTimeout(r, 2_000));
    }
    expect(status).toBe("sent");

    const sent = querySql<{ to_email: string; subject: string; status: string }>(
      worker.persistDir,
      "SELECT to_email, subject, status FROM messages WHERE broadcast_id = 'spring-sale' ORDER BY to_email",
    );
    expect(sent).toEqual(VIPS.map((email) => ({ to_email: email, subject: expect.stringMatching(/^Our spring sale, /), status: "sent" })));
    await page.click('header a:has-text("Mailbox")');
    await expect(page.locator('#mailbox a:has-text("Our spring sale, Bob")').count()).resolves.toBe(1);

    await page.goto(`${worker.url}/admin/broadcasts/spring-sale`);
    await expect(page.textContent("h1 .badge")).resolves.toBe("sent");
    await expect(page.getAttribute('#broadcast-totals [data-stat="audience"]', "data-value")).resolves.toBe("3");
    await expect(page.getAttribute('#broadcast-totals [data-stat="sent"]', "data-value")).resolves.toBe("3");
    await expect(page.textContent('#outcomes [data-outcome="sent"]')).resolves.toBe("3");
    expect(await page.locator("#broadcast-funnel").count()).toBe(1);
    await shot("broadcast-report", "broadcast-report");

    await page.click('header a:has-text("Broadcasts")');
    const row = await page.locator('#broadcasts tr[data-broadcast="spring-sale"] td').allTextContents();
    expect(row[1]).toBe("sent");
    expect(row[2]).toBe("Segment VIPs (vip)");
    expect(row[4]).toBe("3");
  });

  it("a reader opens it, clicks its link and buys: the report shows the open, the click and the attributed revenue", async () => {
    await page.click('header a:has-text("Mailbox")');
    // ada@example.com's first name is "ada"; text-is keeps the [Test] mail out.
    await page.click('#mailbox a:text-is("Our spring sale, ada")');
    await expect(page.textContent("h1")).resolves.toBe("Our spring sale, ada");
    // The mailbox shows the mail with its tracking taken out; the reader's mail client gets the HTML as sent.
    const [mail] = querySql<{ id: string; html: string; contact_id: string }>(
      worker.persistDir,
      "SELECT id, html, contact_id FROM messages WHERE broadcast_id = 'spring-sale' AND to_email = 'ada@example.com'",
    );
    // Read an hour after it was sent, as a person would (a fetch within seconds of sending is a prefetch).
    executeSql(worker.persistDir, `UPDATE messages SET sent_at = sent_at - 3600000 WHERE id = '${mail!.id}';`);
    const eventsOf = (name: string) =>
      querySql<{ machine: number; message_id: string }>(
        worker.persistDir,
        `SELECT machine, message_id FROM events WHERE name = '${name}' AND contact_id = '${mail!.contact_id}'`,
      );

    const reader = await browser.newContext({ userAgent: DESKTOP_USER_AGENT });
    const mailPage = await reader.newPage();
    const pixel = mailPage.waitForResponse((r) => r.url().startsWith(`${worker.url}/o/`));
    await mailPage.setContent(mail!.html, { waitUntil: "domcontentloaded" });
    expect((await pixel).headers()["content-type"]).toBe("image/gif");
    const [open] = await eventually(
      () => eventsOf("email_opened"),
      (rows) => rows.length === 1,
    );
    expect(open).toEqual({ machine: 0, message_id: mail!.id });

    const [redirect] = await Promise.all([
      mailPage.waitForResponse((r) => r.url().startsWith(`${worker.url}/c/`)),
      mailPage.waitForURL((url) => url.href.startsWith(`${shopUrl}/sale`)),
      mailPage.click('a:has-text("Shop the sale")'),
    ]);
    expect(redirect.status()).toBe(302);
    const location = new URL(redirect.headers().location!);
    expect(`${location.origin}${location.pathname}`).toBe(`${shopUrl}/sale`);
    await expect(mailPage.textContent("h1")).resolves.toBe("The sale");
    const [click] = await eventually(
      () => eventsOf("email_clicked"),
      (rows) => rows.length === 1,
    );
    expect(click).toEqual({ machine: 0, message_id: mail!.id });
    await reader.close();

    // The order, from the shop's backend as the README shows: credited to the broadcast by the click.
    await api("/v1/events", {
      method: "POST",
      body: [{ id: "order-spring-1", email: "ada@example.com", name: "order_placed", value: 42.5, properties: { currency: "EUR" } }],
    });
    await eventually(
      () => querySql<{ n: number }>(worker.persistDir, "SELECT count(*) AS n FROM events WHERE id = 'order-spring-1'"),
      (rows) => rows[0]?.n === 1,
    );

    await page.goto(`${worker.url}/admin/broadcasts/spring-sale`);
    const card = (stat: string) => page.getAttribute(`#broadcast-totals [data-stat="${stat}"]`, "data-value");
    await expect(card("opened")).resolves.toBe("1");
    await expect(card("clicked")).resolves.toBe("1");
    await expect(card("converted")).resolves.toBe("1");
    await expect(card("revenue")).resolves.toBe("42.5");
    await expect(page.textContent('#broadcast-totals [data-stat="revenue"]')).resolves.toContain("42.50");
    await expect(page.textContent('#broadcast-totals [data-stat="opened"]')).resolves.toContain("33.3%");
    await shot("broadcast-report-engaged");
  });

  it("every broadcast page fits: scrollWidth ≤ 1280 at a 1280 px viewport", async () => {
    await page.setViewportSize({ width: 1280, height: 900 });
    for (const pathname of ["/admin/broadcasts", "/admin/broadcasts/new", "/admin/broadcasts/spring-sale"]) {
      const res = await page.goto(`${worker.url}${pathname}`);
      expect(res?.status(), pathname).toBe(200);
      const width = await page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
      expect(width, pathname).toBeLessThanOrEqual(1280);
    }
  });
});

/** The UTC offset of `zone` at `instant`, in ms, as Intl reports the zone's wall clock. */
function offsetIn(zone: string, instant: number): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    })
      .formatToParts(instant)
      .map((p) => [p.type, Number(p.value)]),
  );
  return Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!) - Math.floor(instant / 1000) * 1000;
}

/** The first instant at or after `from` when the clock in `zone` shows 09:00. */
function nineLocalAfter(zone: string, from: number): number {
  const day = 86_400_000;
  for (let days = 0; ; days++) {
    const local = new Date(from + offsetIn(zone, from) + days * day);
    const wall = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate(), 9);
    const instant = wall - offsetIn(zone, wall - offsetIn(zone, wall));
    if (instant >= from) return instant;
  }
}

const ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo"];

describe("a seasonal sale tested on two subjects, at 09:00 in each customer's time zone", () => {
  /** Each subscribed VIP's contact id → time zone. */
  const zoneOf = new Map<string, string>();

  beforeAll(async () => {
    await api("/v1/templates/winter-sale", {
      method: "PUT",
      body: {
        subject: "Our winter sale",
        html: `<html><body><h1>Winter sale</h1><p>Hi {{ contact.first_name }}, 30% off everything until Sunday.</p><a href="${shopUrl}/sale">Shop the sale</a></body></html>`,
      },
    });
    // The shop's data: 15 subscribed VIPs (enough for a 20% sample of two variants), out@ still unsubscribed.
    const emails = [...VIPS, ...Array.from({ length: 12 }, (_, i) => `vip${i + 1}@example.com`)];
    const contacts: { id: string; email: string }[] = [];
    for (const email of emails)
      contacts.push(await api("/v1/contacts", { method: "PUT", body: { email, consent: "subscribed", tags: ["vip"] } }));
    // Zones in turn by contact id, the audience's order: the 20% sample (every fifth of 15) then has one contact in each zone.
    contacts.sort((x, y) => (x.id < y.id ? -1 : 1));
    for (const [i, { id, email }] of contacts.entries()) {
      zoneOf.set(id, ZONES[i % ZONES.length]!);
      await api("/v1/contacts", { method: "PUT", body: { email, timezone: zoneOf.get(id) } });
    }
  });

  it("composed on the compose page alone: VIP segment, subjects A and B on 20%, 09:00 local; the sample is due at 09:00 in each zone", async () => {
    await page.goto(`${worker.url}/admin/broadcasts`);
    await page.click('a:has-text("New broadcast")');
    await page.fill("#f-id", "winter-sale");
    await page.fill("#f-name", "Winter sale");
    await page.selectOption("#f-template", "winter-sale");
    await page.selectOption("#f-audience", "segment:vip");
    await page.click('button[value="count"]');
    await expect(page.getAttribute("#audience-count b", "data-count")).resolves.toBe("15");

    await page.check('input[name="when"][value="at"]');
    // The next whole minute at least 30 s away, in UTC as the form asks: the audience is fixed then, and each
    // message is due at the first 09:00 in its contact's zone after it (within 24 h).
    const at = new Date(Math.ceil((Date.now() + 30_000) / 60_000) * 60_000);
    await page.fill("#f-send_at", at.toISOString().slice(0, 16));
    await page.fill("#f-local_time", "09:00");
    await page.check('input[name="ab"]');
    await page.fill("#f-subject_a", "Winter sale: 30% off everything");
    await page.fill("#f-subject_b", "Your VIP winter sale starts now");
    await page.fill("#f-sample_percent", "20");
    await page.fill("#f-wait", "4h");
    await page.selectOption("#f-metric", "click_rate");
    await shot("broadcast-compose-ab-local-time");
    await page.click('button[value="review"]');
    await page.waitForURL(`${worker.url}/admin/broadcasts/winter-sale/confirm`);
    await expect(page.getAttribute("#final-count", "data-count")).resolves.toBe("15");
    await expect(page.textContent("#confirm")).resolves.toContain(
      "2 variants to 20% (3 contacts), the winner by click rate after 4h to the rest",
    );
    await expect(page.textContent("#confirm")).resolves.toContain("then at 09:00 in each contact's time zone");
    await shot("broadcast-confirm-ab-local-time");
    await page.click("#confirm-send");
    await page.waitForURL(/\/admin\/broadcasts\/winter-sale\?done=(scheduled|sending)$/);

    const stored = await api("/v1/broadcasts/winter-sale");
    expect(stored.definition).toMatchObject({
      audience: { segment: "vip" },
      local_time: "09:00",
      ab_test: {
        variants: [{ subject: "Winter sale: 30% off everything" }, { subject: "Your VIP winter sale starts now" }],
        sample_percent: 20,
        metric: "click_rate",
        wait: "4h",
      },
    });
    expect(Date.parse(stored.send_at)).toBe(at.getTime());

    while (Date.now() < at.getTime() + 1_000) await new Promise((r) => setTimeout(r, 1_000));
    await eventually(
      async () => {
        await fireCron();
        return api("/v1/broadcasts/winter-sale");
      },
      (b) => b.audience_complete === true,
      60_000,
    );
    const messages = querySql<{ contact_id: string; variant: string | null; subject: string | null; status: string; due_at: number }>(
      worker.persistDir,
      "SELECT contact_id, variant, subject, status, due_at FROM messages WHERE broadcast_id = 'winter-sale' ORDER BY contact_id",
    );
    expect(messages).toHaveLength(15);
    const sample = messages.filter((m) => m.variant !== null);
    // 20% of 15, split between the two subjects; the other 12 are held for the winner, due at no time yet.
    expect(sample).toHaveLength(3);
    expect(new Set(sample.map((m) => m.subject))).toEqual(new Set(["Winter sale: 30% off everything", "Your VIP winter sale starts now"]));
    expect(new Set(sample.map((m) => zoneOf.get(m.contact_id)))).toEqual(new Set(ZONES));
    for (const m of sample) {
      const zone = zoneOf.get(m.contact_id)!;
      expect({ zone, status: m.status, due: new Date(m.due_at).toISOString() }).toEqual({
        zone,
        status: "queued",
        due: new Date(nineLocalAfter(zone, at.getTime())).toISOString(),
      });
      expect(new Intl.DateTimeFormat("en-GB", { timeZone: zone, timeStyle: "short" }).format(m.due_at)).toBe("09:00");
      expect(m.due_at - at.getTime()).toBeLessThan(86_400_000);
    }
    const held = messages.filter((m) => m.variant === null);
    expect(held.every((m) => m.status === "queued" && m.subject === null && m.due_at > at.getTime() + 365 * 86_400_000)).toBe(true);

    await page.goto(`${worker.url}/admin/broadcasts/winter-sale`);
    await expect(page.textContent('#outcomes [data-outcome="queued"]')).resolves.toBe("3");
    await expect(page.textContent('#outcomes [data-outcome="held"]')).resolves.toBe("12");
  });
});

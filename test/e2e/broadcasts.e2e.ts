/**
 * A broadcast from the dashboard alone, in a real browser: compose it for a
 * segment, preview the template, count the audience, send a test to an
 * address typed in (it lands in the dev mailbox marked [Test]), schedule it
 * for the next minute, confirm with the final count, and watch it go out
 * (the harness fires the every-minute cron) and the report fill in.
 * Screenshots go to test-artifacts/e2e/; with UPDATE_SCREENSHOTS=1 the
 * compose and report shots are also copied to docs/screenshots/ for the README.
 */
import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ARTIFACTS,
  adminApi,
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

const api = <T = any>(pathname: string, init?: { method?: string; body?: unknown }) => adminApi<T>(worker, pathname, init);

const shot = (name: string, publishAs?: string) => screenshot(page, name, publishAs);

/** Fires the every-minute cron (broadcast fan-out, then delivery) as Cloudflare would. */
const fireCron = () => workerFetch(`${worker.url}/__scheduled?cron=${encodeURIComponent("* * * * *")}`, { method: "GET" });

const VIPS = ["ada@example.com", "bob@example.com", "cy@example.com"];

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  worker = await startWorker();
  await api("/v1/templates/spring-sale", {
    method: "PUT",
    body: {
      subject: "Our spring sale, {{ contact.first_name }}",
      html: '<html><body><h1>Spring sale</h1><p>Hi {{ contact.first_name }}, everything is 20% off this week.</p><a href="https://shop.example/sale">Shop the sale</a></body></html>',
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

/**
 * A newcomer's first run in a real browser: reading test mail in the dev
 * mailbox (and clicking its link) records no open and no click; the tag copied
 * from "Set up your site" works on a local test page (ALLOWED_ORIGINS=local, as
 * `npm start` sets it) and its event shows up on that page; and no dashboard
 * page is wider than a 1280 px window. Screenshots go to test-artifacts/e2e/.
 */
import { mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import path from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DESKTOP_USER_AGENT,
  executeSql,
  freePort,
  launchBrowser,
  logIn,
  querySql,
  type RunningWorker,
  startWorker,
  workerFetch,
} from "./harness.ts";

const root = path.resolve(import.meta.dirname, "..", "..");
const artifacts = path.join(root, "test-artifacts", "e2e");
const WIDTH = 1280;

let worker: RunningWorker;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let shop: Server;
let shopUrl: string;
let shopHtml = "";
let messageId = "";
let contactId = "";

async function api<T = any>(pathname: string, body?: unknown, method = body === undefined ? "GET" : "POST"): Promise<T> {
  const res = await workerFetch(`${worker.url}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${worker.adminKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  }).catch((error) => {
    throw new Error(`${method} ${pathname}: ${error}`);
  });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return (res.status === 204 ? null : await res.json()) as T;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The opens and clicks recorded for the contact, by anyone (machine or person). */
const engagement = () =>
  querySql<{ name: string }>(
    worker.persistDir,
    `SELECT name FROM events WHERE contact_id = '${contactId}' AND name IN ('email_opened', 'email_clicked')`,
  );

const longUrl = `https://shop.example/collections/${"very-long-segment-".repeat(12)}end?utm_term=${"x".repeat(120)}`;

/** A sent message with a tracked link (to the Worker's own health check, so the new tab loads) and long content. */
async function seed() {
  await api(
    "/v1/templates/first-look",
    {
      subject: "A first look, {{ contact.first_name }}",
      html: `<html><body><p>New teas are in.</p><a id="look" href="${worker.url}/healthz">See them</a><p>${longUrl}</p></body></html>`,
    },
    "PUT",
  );
  await api(
    "/v1/flows/first-look",
    { name: "First look", trigger: { event: "signed_up" }, steps: [{ id: "look", type: "email", template: "first-look" }] },
    "PUT",
  );
  await api("/v1/flows/first-look/activate", {});
  const longEmail = `${"a-very-long-local-part".repeat(2)}@${"subdomain-".repeat(6)}example.com`;
  contactId = (
    await api<{ id: string }>(
      "/v1/contacts",
      { email: "grace@example.com", first_name: "Grace", consent: "subscribed", attributes: { note: longUrl } },
      "PUT",
    )
  ).id;
  await api("/v1/contacts", { email: longEmail, attributes: { favourite: longUrl } }, "PUT");
  await api("/v1/events", { contact_id: contactId, name: "signed_up", properties: { url: longUrl } });
  // A library install whose template was edited since: the conflict page has something to show.
  await api("/v1/library/welcome-series/install", undefined, "POST");
  await api("/v1/templates/welcome-1", { subject: "My own welcome", html: `<p>${longUrl}</p>` }, "PUT");
  const [row] = querySql<{ id: string }>(
    worker.persistDir,
    `SELECT id FROM messages WHERE contact_id = '${contactId}' AND status = 'sent'`,
  );
  messageId = row!.id;
  // Read an hour after sending, as a person would: a live pixel or link would count as a real open or click.
  executeSql(
    worker.persistDir,
    [
      `UPDATE messages SET sent_at = sent_at - 3600000 WHERE id = '${messageId}';`,
      `INSERT INTO suppressions (email, reason, detail, created_at) VALUES ('${longEmail}', 'hard_bounce', '${"550 5.1.1 mailbox unavailable ".repeat(8)}', 0);`,
    ].join("\n"),
  );
}

beforeAll(async () => {
  mkdirSync(artifacts, { recursive: true });
  worker = await startWorker({ ALLOWED_ORIGINS: "local" });
  const port = await freePort();
  shopUrl = `http://127.0.0.1:${port}`;
  // The test shop serves whatever tag the owner pasted.
  shop = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(shopHtml);
  });
  await new Promise<void>((resolve) => shop.listen(port, "127.0.0.1", resolve));
  await seed();
  browser = await launchBrowser();
  context = await browser.newContext({ userAgent: DESKTOP_USER_AGENT, viewport: { width: WIDTH, height: 900 } });
  page = await context.newPage();
  await logIn(page, worker);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await new Promise((resolve) => shop?.close(resolve));
});

describe("viewing test mail changes no statistic", () => {
  it("reading a mailbox message and clicking its link records no open and no click", async () => {
    await page.goto(`${worker.url}/admin/mailbox/${messageId}`);
    const frame = page.frameLocator("iframe.mail");
    await frame.locator("#look").waitFor();
    expect(await frame.locator('img[src*="/o/"]').count()).toBe(0);
    const [tab] = await Promise.all([page.waitForEvent("popup"), frame.locator("#look").click()]);
    await tab.waitForLoadState();
    expect(tab.url()).toBe(`${worker.url}/healthz`);
    expect(page.url()).toBe(`${worker.url}/admin/mailbox/${messageId}`); // the frame did not navigate away
    await tab.close();
    await page.screenshot({ path: path.join(artifacts, "first-run-mailbox.png"), fullPage: true });
    await sleep(3000); // longer than the tracking queue's 2 s batch window
    expect(engagement()).toEqual([]);
    const profile = await api<{ last_opened_at: string | null; last_clicked_at: string | null }>(`/v1/contacts/${contactId}`);
    expect(profile.last_opened_at ?? null).toBeNull();
    expect(profile.last_clicked_at ?? null).toBeNull();
    await page.goto(`${worker.url}/admin/contacts/${contactId}`);
    const timeline = await page.textContent("#timeline");
    expect(timeline).not.toContain("email_opened");
    expect(timeline).not.toContain("email_clicked");
  });
});

describe("the tag from Set up your site works on a local test page", () => {
  it("a test page with the pasted tag sends an event that the setup page then shows", async () => {
    await page.goto(`${worker.url}/admin/setup`);
    const tag = (await page.textContent("#snippet-tag"))!.trim();
    expect(tag).toBe(`<script src="${worker.url}/s.js" data-site-key="site_e2e"></script>`);
    expect(await page.textContent("#allowed-origins")).toContain("localhost, 127.0.0.1");
    shopHtml = `<!doctype html><html><head><title>Test shop</title>${tag}</head><body><h1>My test shop</h1></body></html>`;

    const shopPage = await context.newPage();
    const errors: string[] = [];
    shopPage.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    const collected = shopPage.waitForResponse((r) => r.url().endsWith("/v1/collect"));
    await shopPage.goto(`${shopUrl}/tea`);
    expect((await collected).status()).toBe(202);
    await shopPage.close();
    expect(errors).toEqual([]);

    await page.goto(`${worker.url}/admin/setup`);
    const events = await page.textContent("#snippet-events");
    expect(events).toContain("page_viewed");
    expect(events).toContain(`${shopUrl}/tea`);
    await page.screenshot({ path: path.join(artifacts, "first-run-setup.png"), fullPage: true });
  });
});

describe("no dashboard page is wider than a 1280 px window", () => {
  it("every page fits: scrollWidth ≤ 1280 at a 1280 px viewport", async () => {
    const pages = [
      "/admin",
      "/admin/flows",
      "/admin/flows/first-look",
      "/admin/flows/welcome-series",
      "/admin/library",
      "/admin/library/welcome-series/conflict",
      "/admin/contacts",
      `/admin/contacts/${contactId}`,
      "/admin/templates",
      "/admin/templates/first-look",
      "/admin/templates/welcome-1",
      "/admin/templates/brand-new",
      "/admin/mailbox",
      `/admin/mailbox/${messageId}`,
      "/admin/suppressions",
      "/admin/setup",
      "/admin/connect",
    ];
    const widths: Record<string, number> = {};
    for (const pathname of pages) {
      const res = await page.goto(`${worker.url}${pathname}`);
      expect(res?.status(), pathname).toBe(200);
      widths[pathname] = await page.evaluate(() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth));
      const name = pathname.replace(/^\/admin\/?/, "").replace(/[^\w]+/g, "-") || "overview";
      await page.screenshot({ path: path.join(artifacts, `width-${name}.png`), fullPage: true });
    }
    for (const [pathname, width] of Object.entries(widths)) expect(width, pathname).toBeLessThanOrEqual(WIDTH);
  });
});

/**
 * Tracking in a real browser: an email from the dev mailbox opened in Chromium
 * fires the pixel; following its tracked link lands on a shop page (a small
 * server on another loopback origin, listed in ALLOWED_ORIGINS) carrying
 * `_nt`, where the real snippet from /s.js records the visit and a tracked
 * event on the right contact; an anonymous visitor who identifies becomes a
 * pending contact, and is stitched to it once that browser confirms.
 */
import { createServer, type Server } from "node:http";
import type { Browser, BrowserContext } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DESKTOP_USER_AGENT,
  eventually,
  executeSql,
  freePort,
  launchBrowser,
  querySql,
  type RunningWorker,
  startWorker,
  workerFetch,
} from "./harness.ts";

let worker: RunningWorker;
let browser: Browser;
let shop: Server;
let shopUrl: string;

async function api(pathname: string, body?: unknown, method = body === undefined ? "GET" : "POST") {
  const res = await workerFetch(`${worker.url}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${worker.adminKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

/** A browser context with a desktop agent. */
function shopContext(): Promise<BrowserContext> {
  return browser.newContext({ userAgent: DESKTOP_USER_AGENT });
}

beforeAll(async () => {
  const port = await freePort();
  shopUrl = `http://127.0.0.1:${port}`;
  worker = await startWorker({ ALLOWED_ORIGINS: shopUrl, SHOP_URL: shopUrl });
  // The shop: every page carries the snippet, as a shop that pasted the script tag.
  shop = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(
      `<!doctype html><html><head><title>Tea shop</title><script src="${worker.url}/s.js" data-site-key="site_e2e"></script></head><body><h1>Green tea</h1></body></html>`,
    );
  });
  await new Promise<void>((resolve) => shop.listen(port, "127.0.0.1", resolve));
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await new Promise((resolve) => shop?.close(resolve));
});

describe("tracking in a real browser", () => {
  it("an opened email fires the pixel; its link lands with _nt and the snippet's events reach the right contact", async () => {
    await api(
      "/v1/templates/hello",
      {
        subject: "Hello",
        html: `<html><body><p>New teas are in.</p><a id="shop" href="${shopUrl}/landing">See them</a></body></html>`,
      },
      "PUT",
    );
    await api(
      "/v1/flows/welcome",
      { name: "Welcome", trigger: { event: "subscribed" }, steps: [{ id: "hello", type: "email", template: "hello" }] },
      "PUT",
    );
    await api("/v1/flows/welcome/activate", {});
    // Subscribing emits `subscribed`, which starts the welcome flow.
    const contact = (await api("/v1/contacts", { email: "reader@example.com", consent: "subscribed" }, "PUT")) as { id: string };
    const [message] = await eventually(
      () => querySql<{ id: string; html: string }>(worker.persistDir, "SELECT id, html FROM messages WHERE status = 'sent'"),
      (rows) => rows.length === 1,
    );
    // Read an hour after it was sent, as a person would (a fetch within seconds of sending is a prefetch).
    executeSql(worker.persistDir, `UPDATE messages SET sent_at = sent_at - 3600000 WHERE id = '${message!.id}';`);

    const context = await shopContext();
    const page = await context.newPage();
    const pixel = page.waitForResponse((r) => r.url().includes("/o/"));
    await page.setContent(message!.html, { waitUntil: "domcontentloaded" });
    expect((await pixel).headers()["content-type"]).toBe("image/gif");
    const opens = await eventually(
      () =>
        querySql<{ machine: number }>(
          worker.persistDir,
          `SELECT machine FROM events WHERE name = 'email_opened' AND contact_id = '${contact.id}'`,
        ),
      (rows) => rows.length === 1,
    );
    expect(opens[0]!.machine).toBe(0);

    const [redirect] = await Promise.all([
      page.waitForResponse((r) => r.url().includes("/c/")),
      page.waitForURL(/\/landing/),
      page.click("#shop"),
    ]);
    expect(redirect.status()).toBe(302);
    expect(redirect.headers().location).toMatch(new RegExp(`^${shopUrl}/landing\\?utm_source=nurture&.*_nt=`));
    await page.waitForFunction(() => "nurture" in window);
    expect(page.url()).not.toContain("_nt="); // the snippet takes the identity off the address bar
    await page.evaluate(() =>
      (window as unknown as { nurture: { track(n: string, p: object): Promise<Response> } }).nurture.track("added_to_cart", { sku: "tea" }),
    );
    const names = await eventually(
      () =>
        querySql<{ name: string; machine: number }>(
          worker.persistDir,
          `SELECT name, machine FROM events WHERE contact_id = '${contact.id}' ORDER BY rowid`,
        ),
      (rows) => ["page_viewed", "added_to_cart", "email_clicked"].every((n) => rows.some((r) => r.name === n)),
    );
    expect(names.find((r) => r.name === "email_clicked")?.machine).toBe(0);
    await context.close();
  });

  it("an anonymous visitor who identifies becomes a pending contact, stitched once that browser confirms", async () => {
    const context = await shopContext();
    const page = await context.newPage();
    await page.goto(`${shopUrl}/teapots`);
    await page.waitForFunction(() => "nurture" in window);
    await page.evaluate(() =>
      (window as unknown as { nurture: { identify(e: string, t: object): Promise<Response> } }).nurture.identify("visitor@example.com", {
        first_name: "Vi",
      }),
    );
    const [confirmation] = await eventually(
      () =>
        querySql<{ html: string; consent: string }>(
          worker.persistDir,
          "SELECT m.html AS html, c.consent AS consent FROM messages m JOIN contacts c ON c.id = m.contact_id WHERE c.email = 'visitor@example.com' AND m.kind = 'confirmation' AND m.status = 'sent'",
        ),
      (r) => r.length === 1,
    );
    expect(confirmation!.consent).toBe("pending");
    // Without proof the typing browser is not tied to the address.
    expect(
      querySql(worker.persistDir, "SELECT e.id FROM events e JOIN contacts c ON c.id = e.contact_id WHERE c.email = 'visitor@example.com'"),
    ).toEqual([]);
    const link = /href="([^"]+\/confirm\/[^"]+)"/.exec(confirmation!.html)![1]!;
    await page.goto(link);
    await page.click("button[type=submit]");
    await page.waitForSelector("text=you are subscribed");
    await Promise.all([page.waitForURL(new RegExp(`^${shopUrl}`)), page.click("text=Continue to the shop")]);
    await page.waitForFunction(() => "nurture" in window);
    const rows = await eventually(
      () =>
        querySql<{ name: string; consent: string }>(
          worker.persistDir,
          "SELECT e.name AS name, c.consent AS consent FROM events e JOIN contacts c ON c.id = e.contact_id WHERE c.email = 'visitor@example.com' AND e.source = 'snippet' ORDER BY e.rowid",
        ),
      (r) => r.length === 3,
    );
    expect(rows.map((r) => r.name)).toEqual(["page_viewed", "identified", "page_viewed"]);
    expect(rows[0]!.consent).toBe("subscribed");
    await context.close();
  });
});

/**
 * The snippet on a shop's page when Nurture cannot be reached: the page shows no error. A loopback server plays
 * both the shop (a page with the tag) and an unreachable Nurture (it serves /s.js, then drops every /v1/collect
 * connection), and Chromium records every uncaught error and console error the page produces; the page's sign-up
 * form shows its error text.
 */
import { createServer, type Server } from "node:http";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SNIPPET } from "../../src/tracking/snippet.ts";
import { freePort, launchBrowser } from "./harness.ts";

let server: Server;
let browser: Browser;
let base = "";
let collectAttempts = 0;

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = createServer((req, res) => {
    if (req.url === "/s.js") {
      res.writeHead(200, { "content-type": "text/javascript" }).end(SNIPPET);
    } else if (req.url === "/v1/collect") {
      collectAttempts++;
      req.socket.destroy(); // Nurture is down: the connection closes with no answer.
    } else {
      res
        .writeHead(200, { "content-type": "text/html" })
        .end(
          `<!doctype html><html><body><h1>Tea shop</h1><script src="/s.js" data-site-key="site_test"></script>` +
            `<script>setTimeout(function () { nurture.track("product_viewed", { sku: "tea-1" }); nurture.identify("ada@example.com"); }, 50);</script>` +
            `<form data-nurture-signup><input name="email" value="ada@example.com"><button>Sign up</button></form></body></html>`,
        );
    }
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

describe("the snippet swallows network failures", () => {
  it("a shop page whose Nurture is unreachable shows no uncaught error in its console", async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
    page.on("console", (message) => {
      // The browser's own line about the failed request is not the page's error; an uncaught rejection is.
      if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(message.text());
    });
    await page.goto(`${base}/shop.html`);
    // The page view, the track and the identify were all tried…
    await expect.poll(() => collectAttempts, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await page.waitForTimeout(500);
    // A sign-up form answers with its error text instead of an uncaught failure, and does not navigate.
    await page.click("button");
    await expect
      .poll(() => page.textContent("[data-nurture-message]"), { timeout: 10_000 })
      .toBe("Sorry, that did not work. Please check your email address and try again.");
    expect(collectAttempts).toBeGreaterThanOrEqual(4);
    expect(page.url()).toBe(`${base}/shop.html`);
    // …and none of their failures reached the page.
    expect(problems).toEqual([]);
    await page.close();
  });
});

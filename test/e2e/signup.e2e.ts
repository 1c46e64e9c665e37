/**
 * A sign-up form on a shop's page, in Chromium: a static page on another loopback origin (listed in
 * ALLOWED_ORIGINS) carries the real snippet from /s.js and a `<form data-nurture-signup>`. Submitting it shows the
 * form's success text without leaving the page, makes a `pending` contact, puts the confirmation email in the dev
 * mailbox; its button subscribes the contact and the welcome flow starts. A refused address shows the error text.
 * The hosted /subscribe page does the same with no JavaScript at all.
 */
import { createServer, type Server } from "node:http";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DESKTOP_USER_AGENT,
  eventually,
  freePort,
  launchBrowser,
  logIn,
  querySql,
  type RunningWorker,
  startWorker,
  workerFetch,
} from "./harness.ts";

let worker: RunningWorker;
let browser: Browser;
let shop: Server;
let shopUrl: string;

async function api(pathname: string, body: unknown, method = "POST") {
  const res = await workerFetch(`${worker.url}${pathname}`, {
    method,
    headers: { authorization: `Bearer ${worker.adminKey}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
}

const contactOf = (email: string) =>
  querySql<{ id: string; consent: string; first_name: string | null; last_name: string | null }>(
    worker.persistDir,
    `SELECT id, consent, first_name, last_name FROM contacts WHERE email = '${email}'`,
  );

/** The confirmation email as the dev mailbox shows it, and the link of its button. */
async function confirmLinkFromMailbox(page: Page, email: string): Promise<string> {
  const [message] = await eventually(
    () =>
      querySql<{ id: string }>(
        worker.persistDir,
        `SELECT id FROM messages WHERE to_email = '${email}' AND kind = 'confirmation' AND status = 'sent'`,
      ),
    (rows) => rows.length === 1,
  );
  await page.goto(`${worker.url}/admin/mailbox`);
  await expect.poll(() => page.locator(`text=${email}`).count()).toBeGreaterThan(0);
  await page.goto(`${worker.url}/admin/mailbox/${message!.id}`);
  const button = page.frameLocator("iframe").locator("a", { hasText: "Yes, subscribe me" });
  const link = await button.getAttribute("href");
  expect(link).toMatch(new RegExp(`^${worker.url}/confirm/`));
  return link!;
}

/** Presses the confirmation's button in a page of its own, as the person's mail client would open it. */
async function confirm(context: BrowserContext, link: string): Promise<void> {
  const page = await context.newPage();
  await page.goto(link);
  await page.click("button[type=submit]");
  await page.waitForSelector("text=you are subscribed");
  await page.close();
}

async function welcomeStarted(contactId: string) {
  const enrollments = await eventually(
    () => querySql<{ flow_id: string }>(worker.persistDir, `SELECT flow_id FROM enrollments WHERE contact_id = '${contactId}'`),
    (rows) => rows.length === 1,
  );
  expect(enrollments[0]!.flow_id).toBe("welcome");
  const welcome = await eventually(
    () =>
      querySql<{ template_id: string; status: string }>(
        worker.persistDir,
        `SELECT template_id, status FROM messages WHERE contact_id = '${contactId}' AND flow_id = 'welcome'`,
      ),
    (rows) => rows.length === 1,
  );
  expect(welcome[0]!.template_id).toBe("hello");
  expect(["queued", "sent"]).toContain(welcome[0]!.status);
}

beforeAll(async () => {
  const port = await freePort();
  shopUrl = `http://127.0.0.1:${port}`;
  worker = await startWorker({ ALLOWED_ORIGINS: shopUrl, SHOP_URL: shopUrl, SHOP_NAME: "Tea Co" });
  // The shop: a static page with the pasted tag and a sign-up form.
  shop = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><html><head><title>Tea shop</title>
      <script src="${worker.url}/s.js" data-site-key="site_e2e"></script></head>
      <body><h1>Green tea</h1>
      <form id="news" data-nurture-signup data-success="Thanks! Look for our email to confirm." data-error="That did not work, sorry.">
        <input name="email" aria-label="Email"><input name="name" aria-label="Name">
        <button type="submit">Sign up</button>
        <p data-nurture-message></p>
      </form></body></html>`);
  });
  await new Promise<void>((resolve) => shop.listen(port, "127.0.0.1", resolve));
  browser = await launchBrowser();
  await api("/v1/templates/hello", { subject: "Welcome", html: "<html><body><p>Welcome to Tea Co.</p></body></html>" }, "PUT");
  await api(
    "/v1/flows/welcome",
    { name: "Welcome", trigger: { event: "subscribed" }, steps: [{ id: "hello", type: "email", template: "hello" }] },
    "PUT",
  );
  await api("/v1/flows/welcome/activate", {});
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
  await new Promise((resolve) => shop?.close(resolve));
});

describe("a sign-up form on the shop's page", () => {
  it("submitting it shows the success text, the confirmation arrives, its button subscribes, the welcome flow starts", async () => {
    const context = await browser.newContext({ userAgent: DESKTOP_USER_AGENT });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(`${shopUrl}/tea`);
    await page.waitForFunction(() => "nurture" in window);

    await page.fill("input[name=email]", "not-an-address");
    await page.click("#news button");
    await expect.poll(() => page.textContent("[data-nurture-message]")).toBe("That did not work, sorry.");
    expect(await page.getAttribute("#news", "data-nurture-state")).toBe("error");

    await page.fill("input[name=email]", "Ada@Example.com");
    await page.fill("input[name=name]", "Ada King Lovelace");
    await page.click("#news button");
    await expect.poll(() => page.textContent("[data-nurture-message]")).toBe("Thanks! Look for our email to confirm.");
    expect(await page.getAttribute("#news", "data-nurture-state")).toBe("success");
    expect(page.url()).toBe(`${shopUrl}/tea`); // the form did not navigate
    expect(await page.inputValue("input[name=email]")).toBe(""); // and was reset
    expect(errors).toEqual([]);

    const [contact] = await eventually(
      () => contactOf("ada@example.com"),
      (rows) => rows.length === 1,
    );
    expect(contact).toMatchObject({ consent: "pending", first_name: "Ada", last_name: "King Lovelace" });

    const mailbox = await context.newPage();
    await logIn(mailbox, worker);
    const link = await confirmLinkFromMailbox(mailbox, "ada@example.com");
    await confirm(context, link);
    expect((await contactOf("ada@example.com"))[0]!.consent).toBe("subscribed");
    await welcomeStarted(contact!.id);
    await context.close();
  });

  it("the hosted /subscribe page signs up without JavaScript and says to check the inbox", async () => {
    const context = await browser.newContext({ userAgent: DESKTOP_USER_AGENT, javaScriptEnabled: false });
    const page = await context.newPage();
    await page.goto(`${worker.url}/subscribe`);
    expect(await page.textContent("h1")).toBe("Get emails from Tea Co");
    await page.fill("#email", "grace@example.com");
    await page.fill("#first_name", "Grace");
    await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
    expect(await page.textContent("h1")).toBe("Check your inbox");
    const [contact] = await eventually(
      () => contactOf("grace@example.com"),
      (rows) => rows.length === 1,
    );
    expect(contact).toMatchObject({ consent: "pending", first_name: "Grace" });
    const [confirmation] = await eventually(
      () =>
        querySql<{ html: string }>(
          worker.persistDir,
          "SELECT html FROM messages WHERE to_email = 'grace@example.com' AND kind = 'confirmation' AND status = 'sent'",
        ),
      (rows) => rows.length === 1,
    );
    await confirm(context, /href="([^"]+\/confirm\/[^"]+)"/.exec(confirmation!.html)![1]!);
    await welcomeStarted(contact!.id);
    await context.close();
  });
});

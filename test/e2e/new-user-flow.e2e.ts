/**
 * A new user's first flow, with only the dashboard, on a fresh database: log in, build a
 * branching welcome flow from /admin/flows/new (templates created in the builder, a branch
 * on a condition from the condition builder), meet a validation problem on its node and fix
 * it, save a draft, send its test to a typed address and open it in the dev mailbox, simulate
 * it over stored events, activate it and see it listed active. Every effect is checked where
 * it lands: the stored flow through the API, the test mail in the mailbox.
 * Screenshots go to test-artifacts/e2e/.
 */
import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addStep, noticeSays, problemsSay, sidePanel, startNewFlow } from "./flow-editor-page.ts";
import { ARTIFACTS, adminApi, launchBrowser, type RunningWorker, screenshot, startWorker } from "./harness.ts";

let worker: RunningWorker;
let browser: Browser;
let page: Page;

const api = <T = any>(pathname: string, init?: { method?: string; body?: unknown }) => adminApi<T>(worker, pathname, init);
const panel = () => sidePanel(page);
const shot = (name: string) => screenshot(page, name);

/** Creates a template from the email step's picker ("New template…"), without leaving the builder. */
async function newTemplate(id: string, subject: string, html: string) {
  await panel().locator('select[aria-label="Template"]').selectOption("+new");
  const dialog = page.locator('[role="dialog"][aria-label="New template"]');
  await dialog.locator('input[aria-label="Template id"]').fill(id);
  await dialog.locator('input[aria-label="Template subject"]').fill(subject);
  await dialog.locator('textarea[aria-label="Template HTML"]').fill(html);
  await dialog.locator('button:has-text("Create template")').click();
  await dialog.waitFor({ state: "detached" });
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  worker = await startWorker();
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

describe("a new user's first flow", () => {
  it("is built, checked, test-sent, simulated and launched from the dashboard alone", async () => {
    // History the simulation replays: a shop's contact signed up before the flow existed.
    await api("/v1/contacts", { method: "PUT", body: { email: "early@example.com", consent: "subscribed", tags: ["vip"] } });
    await api("/v1/events", { body: { email: "early@example.com", name: "signup" } });

    await page.goto(`${worker.url}/admin`);
    await page.waitForURL(/\/admin\/login/);
    await page.fill("#key", worker.adminKey);
    await page.click("button[type=submit]");
    await page.waitForURL(`${worker.url}/admin`);
    await startNewFlow(page, worker.url, "Welcome flow", "signup");

    // An email with no template yet: the API's problem is shown on that node, and goes once a template is made.
    await addStep(page, "trigger.", "Email");
    await problemsSay(page, "1 problem");
    expect(await page.locator('[data-node="email-1"].invalid .node-problem').textContent()).toContain("template");
    await newTemplate("welcome", "Welcome to the shop, {{ contact.first_name | default: 'friend' }}", "<p>Glad you are here.</p>");
    await problemsSay(page, "No problems");
    expect(await page.locator('[data-node="email-1"].invalid').count()).toBe(0);
    expect(await page.locator('[data-node="email-1"] small').textContent()).toBe("welcome");

    await addStep(page, "email-1.next", "Wait");
    await panel().locator('input[aria-label="For"]').fill("2d");

    // Any of: the country is DE or AT, or the contact has the tag vip.
    await addStep(page, "wait-1.next", "Branch");
    await panel().locator('button:has-text("+ And / or")').click();
    await panel().locator('select[aria-label="Match"]').selectOption("any");
    await panel().locator('input[aria-label="Attribute"]').fill("country");
    await panel().locator('select[aria-label="Operator"]').selectOption("in");
    await panel().locator('input[aria-label="Value"]').fill("DE, AT");
    await panel().locator('input[aria-label="Tag"]').fill("vip");

    await addStep(page, "branch-1.then", "Email");
    await problemsSay(page, "1 problem");
    await newTemplate("vip-offer", "A thank-you for our regulars", "<p>Here is 10% off.</p>");
    await problemsSay(page, "No problems");
    await shot("new-user-flow-built");

    await page.click('button:has-text("Save")');
    await noticeSays(page, "Saved as version 1");
    expect(await page.textContent("h1")).toContain("Edit Welcome flow");
    const draft = await api("/v1/flows/welcome-flow");
    expect(draft).toMatchObject({ status: "draft", version: 1 });
    expect(draft.definition).toEqual({
      id: "welcome-flow",
      name: "Welcome flow",
      trigger: { event: "signup" },
      // Steps run in array order: the branch's then (email-2) and email-2's next (end-1) are implied.
      steps: [
        { id: "email-1", type: "email", template: "welcome" },
        { id: "wait-1", type: "wait", for: "2d" },
        {
          id: "branch-1",
          type: "branch",
          if: { any: [{ attr: "country", op: "in", value: ["DE", "AT"] }, { tag: "vip" }] },
          else: "end-1",
        },
        { id: "email-2", type: "email", template: "vip-offer" },
        { id: "end-1", type: "exit" },
      ],
    });

    // The test send, to an address typed on the flow's page; each email opens in the dev mailbox.
    await page.click('h1 a:has-text("back to the flow")');
    await page.waitForURL(`${worker.url}/admin/flows/welcome-flow`);
    await page.fill('#test-send input[name="to"]', "owner@shop.example");
    await page.click('#test-send button[type="submit"]');
    await page.waitForSelector("#test-sent");
    const subjects = await page.locator("#test-sent tbody tr td:nth-child(3)").allTextContents();
    expect(subjects).toEqual(["[Test] Welcome to the shop, Ada", "[Test] A thank-you for our regulars"]);
    await page.click('#test-sent a:has-text("A thank-you")');
    await page.waitForURL(/\/admin\/mailbox\/[^/]+$/);
    expect(await page.textContent("h1")).toBe("[Test] A thank-you for our regulars");
    expect(await page.textContent("main")).toContain("To owner@shop.example");
    expect(await page.frameLocator("iframe").locator("body").textContent()).toContain("Here is 10% off.");

    // The simulation replays the stored sign-up through the draft: one contact in, the welcome sent, waiting.
    await page.goto(`${worker.url}/admin/flows/welcome-flow`);
    await page.click('#simulate button[type="submit"]');
    await page.waitForSelector("#simulation-steps");
    expect(await page.getAttribute("#simulation", "data-entered")).toBe("1");
    const reached = await page
      .locator("#simulation-steps tbody tr")
      .evaluateAll((rows) => rows.map((r) => `${r.getAttribute("data-step")}:${r.getAttribute("data-reached")}`));
    expect(reached).toEqual(["email-1:1", "wait-1:1", "branch-1:0", "email-2:0", "end-1:0"]);
    await shot("new-user-flow-simulation");

    await page.goto(`${worker.url}/admin/flows/welcome-flow`);
    await page.click('form[action="/admin/flows/welcome-flow/status"] button:has-text("Activate")');
    await page.waitForURL(`${worker.url}/admin/flows/welcome-flow`);
    expect((await api("/v1/flows/welcome-flow")).status).toBe("active");
    await page.click('header nav a[href="/admin/flows"]');
    expect(await page.textContent('#flows tr[data-flow="welcome-flow"] .badge')).toBe("active");
  });
});

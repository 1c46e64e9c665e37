/**
 * Issue 14's "done when" as one first day of a new user, with only the dashboard, on a fresh database: log in, build a
 * branching welcome flow from /admin/flows/new (templates created in the builder, an A/B subject test on the welcome
 * email, a branch on a condition from the condition builder), meet a validation problem on its node and fix it, save
 * a draft, send its test (every variant) to a typed address and read it in the dev mailbox, simulate it over stored
 * events, activate it, see a sign-up receive one of the two subjects, and later change its wait through the impact
 * confirmation, the running contact kept where it is. The API only checks effects (and plays the shop's site, which
 * sends the sign-up). Screenshots go to test-artifacts/e2e/.
 */
import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addStep, noticeSays, problemsSay, saveThroughImpact, setVariantSubject, sidePanel, startNewFlow } from "./flow-editor-page.ts";
import { ARTIFACTS, adminApi, eventually, launchBrowser, type RunningWorker, screenshot, startWorker } from "./harness.ts";

let worker: RunningWorker;
let browser: Browser;
let page: Page;

const api = <T = any>(pathname: string, init?: { method?: string; body?: unknown }) => adminApi<T>(worker, pathname, init);
const panel = () => sidePanel(page);
const shot = (name: string) => screenshot(page, name);

/** Opens the welcome flow's page as the owner would: Flows in the menu, then the flow's row. */
async function openWelcomeFlow() {
  await page.click('header nav a[href="/admin/flows"]');
  await page.click('#flows tr[data-flow="welcome-flow"] a:has-text("Welcome flow")');
  await page.waitForURL(`${worker.url}/admin/flows/welcome-flow`);
}

/** The subjects of the dev mailbox's messages to `to`, newest first, as the page lists them. */
async function mailboxSubjects(to: string) {
  await page.click('header nav a[href="/admin/mailbox"]');
  return page
    .locator("#mailbox tbody tr", { has: page.locator(`td:text-is("${to}")`) })
    .locator("td:nth-child(3)")
    .allTextContents();
}

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
  it("is built with an A/B subject test, checked, test-sent, simulated, launched and changed later from the dashboard alone", async () => {
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

    // An A/B subject test on the welcome email: two variants, each a subject of its own on the same template.
    await panel().locator('button:has-text("+ Variants")').click();
    await problemsSay(page, "2 problems");
    await setVariantSubject(page, "A", "Welcome, {{ contact.first_name | default: 'friend' }}!");
    await setVariantSubject(page, "B", "Your first week at the shop");
    await problemsSay(page, "No problems");
    expect(await page.locator('[data-node="email-1"] small').textContent()).toBe("A/B test of 2 variants");

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
        {
          id: "email-1",
          type: "email",
          template: "welcome",
          variants: [
            { subject: "Welcome, {{ contact.first_name | default: 'friend' }}!", weight: 50 },
            { subject: "Your first week at the shop", weight: 50 },
          ],
        },
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

    // The test send, to an address typed on the flow's page: one mail per variant, then the branch's email.
    await page.click('h1 a:has-text("back to the flow")');
    await page.waitForURL(`${worker.url}/admin/flows/welcome-flow`);
    await page.fill('#test-send input[name="to"]', "owner@shop.example");
    await page.click('#test-send button[type="submit"]');
    await page.waitForSelector("#test-sent");
    const rows = await page
      .locator("#test-sent tbody tr")
      .evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll("td")].slice(1, 3).map((td) => td.textContent)));
    // The variant column names each variant as its stats do: the template, then the variant's place.
    expect(rows).toEqual([
      ["welcome#1", "[Test] Welcome, Ada!"],
      ["welcome#2", "[Test] Your first week at the shop"],
      ["—", "[Test] A thank-you for our regulars"],
    ]);
    // All three are in the dev mailbox (sent in the same instant, so in no set order); a subject variant keeps its template's body.
    expect((await mailboxSubjects("owner@shop.example")).sort()).toEqual([
      "[Test] A thank-you for our regulars",
      "[Test] Welcome, Ada!",
      "[Test] Your first week at the shop",
    ]);
    await page.click('#mailbox a:has-text("[Test] Your first week at the shop")');
    await page.waitForURL(/\/admin\/mailbox\/[^/]+$/);
    expect(await page.textContent("h1")).toBe("[Test] Your first week at the shop");
    expect(await page.textContent("main")).toContain("To owner@shop.example");
    expect(await page.frameLocator("iframe").locator("body").textContent()).toContain("Glad you are here.");

    // The simulation replays the stored sign-up through the draft: one contact in, the welcome sent, waiting.
    await openWelcomeFlow();
    await page.click('#simulate button[type="submit"]');
    await page.waitForSelector("#simulation-steps");
    expect(await page.getAttribute("#simulation", "data-entered")).toBe("1");
    const reached = await page
      .locator("#simulation-steps tbody tr")
      .evaluateAll((rows) => rows.map((r) => `${r.getAttribute("data-step")}:${r.getAttribute("data-reached")}`));
    expect(reached).toEqual(["email-1:1", "wait-1:1", "branch-1:0", "email-2:0", "end-1:0"]);
    await shot("new-user-flow-simulation");

    await openWelcomeFlow();
    await page.click('form[action="/admin/flows/welcome-flow/status"] button:has-text("Activate")');
    await page.waitForURL(`${worker.url}/admin/flows/welcome-flow`);
    expect((await api("/v1/flows/welcome-flow")).status).toBe("active");
    await page.click('header nav a[href="/admin/flows"]');
    expect(await page.textContent('#flows tr[data-flow="welcome-flow"] .badge')).toBe("active");

    // A shopper signs up on the shop's site (its call to the API) and receives one of the two subjects.
    const ben = await api<{ id: string }>("/v1/contacts", {
      method: "PUT",
      body: { email: "ben@example.com", first_name: "Ben", consent: "subscribed" },
    });
    await api("/v1/events", { body: { email: "ben@example.com", name: "signup" } });
    const { messages } = await eventually(
      () => api<{ messages: { subject: string; status: string }[] }>(`/v1/messages?contact=${ben.id}&flow=welcome-flow`),
      (answer) => answer.messages.some((m) => m.status === "sent"),
    );
    expect(messages).toHaveLength(1);
    const welcome = messages[0]?.subject;
    expect(["Welcome, Ben!", "Your first week at the shop"]).toContain(welcome);
    expect(await mailboxSubjects("ben@example.com")).toEqual([welcome]);
    const [enrollment] = (await api(`/v1/contacts/${ben.id}`)).enrollments;
    expect(enrollment).toMatchObject({ flow_id: "welcome-flow", status: "active", current_step: "wait-1" });

    // Later, the owner shortens the wait: the editor says who is running before saving, and Ben stays where he is.
    const before = await api("/v1/flows/welcome-flow");
    await openWelcomeFlow();
    await page.click('h1 a:has-text("Edit")');
    await page.waitForURL(`${worker.url}/admin/flows/welcome-flow/edit`);
    await page.click('[data-node="wait-1"]');
    await panel().locator('input[aria-label="For"]').fill("1d");
    await problemsSay(page, "No problems");
    expect(await saveThroughImpact(page)).toContain("1 running contact; none sits on a step this would remove.");
    await noticeSays(page, `Saved as version ${before.version + 1}`);
    await shot("new-user-flow-changed");
    const changed = await api("/v1/flows/welcome-flow");
    expect(changed).toMatchObject({ status: "active", version: before.version + 1 });
    expect(changed.definition.steps[1]).toEqual({ id: "wait-1", type: "wait", for: "1d" });
    expect(changed.definition.steps.filter((s: { id: string }) => s.id !== "wait-1")).toEqual(
      before.definition.steps.filter((s: { id: string }) => s.id !== "wait-1"),
    );
    const { id, entered_at } = enrollment;
    expect((await api(`/v1/contacts/${ben.id}`)).enrollments).toMatchObject([{ id, entered_at, status: "active", current_step: "wait-1" }]);
  });
});

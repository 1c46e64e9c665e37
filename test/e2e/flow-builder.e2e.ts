/**
 * The flow builder and the segment editor in a real browser: build a branching flow from an
 * empty canvas (a missing template shows on its node until picked), save, activate, and find
 * its two emails in the dev mailbox after the trigger event (a link away from unsaved changes
 * asks first, and the heading follows the first save); saving a running library flow says first
 * how many contacts sit on steps it removes (cancel saves nothing), then changing a wait keeps
 * its enrollments; build an A/B subject test; load and save every library flow unchanged and get
 * the identical definition back; build a segment whose live count equals its member list.
 * Screenshots go to test-artifacts/e2e/; UPDATE_SCREENSHOTS=1 also copies the canvas, the side
 * panel, the A/B variants, the impact confirmation and the segment editor to docs/screenshots/
 * for the README.
 */
import { mkdirSync } from "node:fs";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addStep,
  impactDialog,
  noticeSays,
  problemsSay,
  saveThroughImpact,
  setVariantSubject,
  sidePanel,
  startNewFlow,
  variantFieldset,
} from "./flow-editor-page.ts";
import { ARTIFACTS, adminApi, launchBrowser, logIn, type RunningWorker, screenshot, startWorker } from "./harness.ts";

let worker: RunningWorker;
let browser: Browser;
let context: BrowserContext;
let page: Page;

const api = <T = any>(pathname: string, init?: { method?: string; body?: unknown }) => adminApi<T>(worker, pathname, init);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const shot = (name: string, publishAs?: string) => screenshot(page, name, publishAs);

const panel = () => sidePanel(page);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  worker = await startWorker();
  await api("/v1/templates/email-a", { method: "PUT", body: { subject: "Welcome A", html: "<p>Hello from A</p>" } });
  await api("/v1/templates/email-b", { method: "PUT", body: { subject: "Follow-up B", html: "<p>And now B</p>" } });
  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  page = await context.newPage();
  await logIn(page, worker);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

describe("the flow builder", () => {
  it("builds signup → A → wait → wait_for → branch → B / exit from an empty canvas, and its mail arrives", async () => {
    await startNewFlow(page, worker.url, "Signup series", "signup");

    await addStep(page, "trigger.", "Email");
    // No template yet: the API's problem shows on the node.
    await problemsSay(page, "1 problem");
    await expect(page.locator('[data-node="email-1"].invalid').textContent()).resolves.toContain("template");
    await panel().locator('select[aria-label="Template"]').selectOption("email-a");
    await problemsSay(page, "No problems");
    expect(await page.locator('[data-node="email-1"].invalid').count()).toBe(0);
    await expect(panel().locator(".template-preview").textContent()).resolves.toContain("Welcome A");

    await addStep(page, "email-1.next", "Wait");
    await panel().locator('input[aria-label="For"]').fill("5s");
    await addStep(page, "wait-1.next", "Wait for event");
    await panel().locator('input[aria-label="Timeout"]').fill("5s");
    await panel().locator('button:has-text("+ Of")').click();
    await panel().locator('select[aria-label="Of"]').selectOption("email-1");
    await addStep(page, "wait-for-1.then", "Branch");
    await panel().locator('select[aria-label="Rule"]').selectOption("tag");
    await panel().locator('input[aria-label="Tag"]').fill("vip");
    // Opened or not, the branch decides.
    await page.click('[data-node="wait-for-1"]');
    await panel().locator('select[aria-label="timeout goes to"]').selectOption("branch-1");
    await addStep(page, "branch-1.then", "Email");
    await panel().locator('select[aria-label="Template"]').selectOption("email-b");
    await problemsSay(page, "No problems");

    // Unsaved: a link away asks first, and staying keeps the draft.
    expect(await page.textContent("h1")).toBe("New flow");
    const asked = new Promise<string>((resolve) =>
      page.once("dialog", (d) => {
        resolve(d.message());
        void d.dismiss();
      }),
    );
    await page.click('header nav a[href="/admin/flows"]');
    expect(await asked).toContain("unsaved changes");
    expect(page.url()).toBe(`${worker.url}/admin/flows/new`);

    await page.click('button:has-text("Save")');
    await noticeSays(page, "Saved as version 1");
    await page.waitForURL(`${worker.url}/admin/flows/signup-series/edit`);
    // The heading and the tab's title now name the stored flow, and link to its page.
    expect(await page.textContent("h1")).toContain("Edit Signup series");
    expect(await page.title()).toBe("Edit Signup series · Nurture");
    expect(await page.getAttribute('h1 a:has-text("back to the flow")', "href")).toBe("/admin/flows/signup-series");
    await page.click('[data-node="wait-for-1"]');
    await shot("flow-builder-panel", "flow-builder-panel");
    await page.click('[data-node="branch-1"]');
    await shot("flow-builder-canvas", "flow-builder-canvas");

    const stored = await api("/v1/flows/signup-series");
    expect(stored.definition.trigger).toEqual({ event: "signup" });
    expect(stored.definition.steps.map((s: { id: string; type: string }) => `${s.id}:${s.type}`)).toEqual([
      "email-1:email",
      "wait-1:wait",
      "wait-for-1:wait_for",
      "branch-1:branch",
      "email-2:email",
      "end-1:exit",
    ]);
    expect(stored.definition.steps[2]).toMatchObject({ event: "email_opened", of: "email-1", timeout: "5s", else: "branch-1" });
    expect(stored.definition.steps[3]).toMatchObject({ if: { tag: "vip" }, else: "end-1" });

    // A new flow named like a stored one does not replace it.
    const other = await context.newPage();
    await other.goto(`${worker.url}/admin/flows/new`);
    await other.fill('input[aria-label="Flow name"]', "Signup series");
    await other.click('button:has-text("Save")');
    await noticeSays(other, '"signup-series" exists already');
    await other.close();
    expect((await api("/v1/flows/signup-series")).version).toBe(1);

    await page.click('button:has-text("Activate")');
    await noticeSays(page, "Active");
    expect((await api("/v1/flows/signup-series")).status).toBe("active");

    const ann = await api<{ id: string }>("/v1/contacts", {
      method: "PUT",
      body: { email: "ann@example.com", first_name: "Ann", consent: "subscribed", tags: ["vip"] },
    });
    await api("/v1/events", { body: { email: "ann@example.com", name: "signup" } });
    let sent: { subject: string; sent_at: string }[] = [];
    for (let i = 0; i < 60 && sent.length < 2; i++) {
      await sleep(1000);
      const page = await api<{ messages: { subject: string | null; status: string; sent_at: string }[] }>(
        `/v1/messages?contact=${ann.id}&flow=signup-series`,
      );
      sent = page.messages.filter((m) => m.status === "sent") as typeof sent;
    }
    expect(sent.map((m) => m.subject).reverse()).toEqual(["Welcome A", "Follow-up B"]);
    await page.goto(`${worker.url}/admin/mailbox`);
    const mailbox = (await page.textContent("main")) ?? "";
    expect(mailbox).toContain("Welcome A");
    expect(mailbox).toContain("Follow-up B");
  });

  it("changes a wait of a running library flow, and its enrollments stay where they are", async () => {
    await api("/v1/library/welcome-series/install", { method: "POST" });
    await api("/v1/flows/welcome-series/activate", { method: "POST" });
    const bea = await api<{ id: string }>("/v1/contacts", { method: "PUT", body: { email: "bea@example.com", consent: "subscribed" } });
    let enrollment: { flow_id: string; status: string; current_step: string | null; flow_version: number } | undefined;
    for (let i = 0; i < 30 && enrollment?.current_step !== "wait_2"; i++) {
      await sleep(500);
      enrollment = (await api(`/v1/contacts/${bea.id}`)).enrollments.find((e: { flow_id: string }) => e.flow_id === "welcome-series");
    }
    expect(enrollment).toMatchObject({ status: "active", current_step: "wait_2" });
    const before = await api("/v1/flows/welcome-series");

    await page.goto(`${worker.url}/admin/flows/welcome-series/edit`);
    // Removing the step Bea waits on: the editor says so before saving, and Cancel saves nothing.
    await page.click('[data-node="wait_2"]');
    await panel().locator('button:has-text("Delete step")').click();
    await problemsSay(page, "No problems");
    await page.click('button:has-text("Save")');
    await impactDialog(page).waitFor({ timeout: 15_000 });
    expect(await impactDialog(page).textContent()).toContain("1 running contact; 1 sits on a step this would remove: wait_2 (1)");
    await shot("flow-builder-impact", "flow-builder-impact");
    await impactDialog(page).locator('button:has-text("Cancel")').click();
    expect(await impactDialog(page).count()).toBe(0);
    expect((await api("/v1/flows/welcome-series")).version).toBe(before.version);

    // Leaving with the change unsaved: the browser asks (beforeunload); leaving drops it.
    const asked = new Promise<string>((resolve) =>
      page.once("dialog", (d) => {
        resolve(d.type());
        void d.accept();
      }),
    );
    await page.reload();
    expect(await asked).toBe("beforeunload");

    await page.click('[data-node="wait_2"]');
    await panel().locator('input[aria-label="For"]').fill("3d");
    await problemsSay(page, "No problems");
    expect(await saveThroughImpact(page)).toContain("1 running contact; none sits on a step this would remove.");
    await noticeSays(page, `Saved as version ${before.version + 1}`);

    const after = await api("/v1/flows/welcome-series");
    expect(after.version).toBe(before.version + 1);
    expect(after.status).toBe("active");
    expect(after.definition.steps.find((s: { id: string }) => s.id === "wait_2")).toEqual({ id: "wait_2", type: "wait", for: "3d" });
    const unchanged = (steps: { id: string }[]) => steps.filter((s) => s.id !== "wait_2");
    expect(unchanged(after.definition.steps)).toEqual(unchanged(before.definition.steps));
    const kept = (await api(`/v1/contacts/${bea.id}`)).enrollments.find((e: { flow_id: string }) => e.flow_id === "welcome-series");
    expect(kept).toMatchObject({ id: (enrollment as unknown as { id: string }).id, status: "active", current_step: "wait_2" });
  });

  it("saves every library flow loaded unchanged as the identical definition", async () => {
    const { flows } = await api<{ flows: { name: string }[] }>("/v1/library");
    expect(flows.length).toBeGreaterThanOrEqual(13);
    for (const { name } of flows) {
      const installed = await api<{ flow: { id: string } }>(`/v1/library/${name}/install`, { method: "POST" }).catch(() => null);
      const flowId = installed?.flow?.id ?? name;
      const before = await api(`/v1/flows/${flowId}`);
      await page.goto(`${worker.url}/admin/flows/${flowId}/edit`);
      await page.waitForSelector('[data-node="trigger"]');
      await problemsSay(page, "No problems");
      if (before.status === "active") expect(await saveThroughImpact(page)).toContain("running contact");
      else await page.click('button:has-text("Save")');
      await noticeSays(page, `Saved as version ${before.version + 1}`);
      const after = await api(`/v1/flows/${flowId}`);
      // Deep equality: zod writes an object's keys in schema order, for the editor's PUT as for curl's.
      expect(after.definition, name).toEqual(before.definition);
    }
  });
});

describe("A/B variants in the email step", () => {
  it("builds a subject-line test on one template, each variant named by its subject, and stores it", async () => {
    await page.goto(`${worker.url}/admin/flows/new`);
    await page.fill('input[aria-label="Flow name"]', "Subject test");
    await panel().locator('input[aria-label="Event"]').fill("ab_signup");
    await addStep(page, "trigger.", "Email");
    await panel().locator('select[aria-label="Template"]').first().selectOption("email-a");
    await panel().locator('button:has-text("+ Variants")').click();
    const variant = (letter: string) => variantFieldset(page, letter);
    // A new variant keeps the step's template, so its row shows that template's subject; naming nothing of its own is a problem.
    expect(await variant("A").locator("> legend").textContent()).toBe("Variant A: “Welcome A”");
    expect(await variant("A").locator('select[aria-label="Template"] option:checked').textContent()).toBe("Same as the step's template");
    await problemsSay(page, "2 problems");
    expect(await variant("B").locator(".problems").textContent()).toContain("A variant names a template, a subject, or both");

    await setVariantSubject(page, "A", "Welcome, {{ contact.first_name }}!");
    await setVariantSubject(page, "B", "Your first week with us");
    await problemsSay(page, "No problems");
    expect(await variant("A").locator("> legend").textContent()).toBe("Variant A: “Welcome, {{ contact.first_name }}!”");
    expect(await variant("B").locator("> legend").textContent()).toBe("Variant B: “Your first week with us”");
    expect(await page.locator('[data-node="email-1"] small').textContent()).toBe("A/B test of 2 variants");
    // Tall enough for the whole panel, which otherwise scrolls inside the window.
    await page.setViewportSize({ width: 1400, height: 1300 });
    await shot("flow-builder-variants", "flow-builder-variants");
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.click('button:has-text("Save")');
    await noticeSays(page, "Saved as version 1");

    const stored = await api("/v1/flows/subject-test");
    expect(stored.definition.steps).toEqual([
      {
        id: "email-1",
        type: "email",
        template: "email-a",
        variants: [
          { subject: "Welcome, {{ contact.first_name }}!", weight: 50 },
          { subject: "Your first week with us", weight: 50 },
        ],
      },
    ]);
  });
});

describe("the segment editor", () => {
  it("builds a segment whose live count equals its member list", async () => {
    for (const [email, tags, name] of [
      ["v1@example.com", ["gold"], "Vera"],
      ["v2@example.com", ["gold"], "Bob"],
      ["v3@example.com", ["gold"], "Vic"],
      ["n1@example.com", [], "Nell"],
    ] as const) {
      await api("/v1/contacts", { method: "PUT", body: { email, first_name: name, tags } });
    }
    await page.goto(`${worker.url}/admin/segments`);
    await page.click('main a:has-text("New segment")');
    await page.waitForURL(`${worker.url}/admin/segments/new`);
    await page.fill('input[aria-label="Segment name"]', "Gold not Bob");
    await page.fill('input[aria-label="Tag"]', "gold");
    const count = page.locator('[data-testid="segment-count"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="segment-count"]')?.textContent === "3");
    await page.click('button:has-text("+ Contact attribute")');
    await page.locator('input[aria-label="Attribute"]').fill("first_name");
    await page.locator('select[aria-label="Operator"]').selectOption("ne");
    await page.locator('input[aria-label="Value"]').fill("Bob");
    await page.waitForFunction(() => document.querySelector('[data-testid="segment-count"]')?.textContent === "2");
    await page.click('button:has-text("Save")');
    await noticeSays(page, "Saved");
    const members = await api<{ contacts: { email: string }[] }>("/v1/segments/gold-not-bob/contacts");
    expect(String(members.contacts.length)).toBe(await count.textContent());
    expect(members.contacts.map((c) => c.email).sort()).toEqual(["v1@example.com", "v3@example.com"]);
    const members2 = await page.locator('aside[aria-label="Members"] a').allTextContents();
    expect(members2.sort()).toEqual(["v1@example.com", "v3@example.com"]);
    await shot("segment-editor", "segment-editor");
  });
});

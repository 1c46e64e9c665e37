/**
 * The dashboard in a real browser: log in with the admin key, check the
 * overview against the stats API, open a flow and read its steps, pause it,
 * and find a contact's timeline. Screenshots go to test-artifacts/e2e/
 * (ignored); `npm run screenshots` (UPDATE_SCREENSHOTS=1) also copies the
 * overview and flow shots to docs/screenshots/ for the README, so a plain
 * test run leaves the working tree clean.
 */
import { mkdirSync } from "node:fs";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, adminApi, executeSql, launchBrowser, type RunningWorker, screenshot, startWorker } from "./harness.ts";

const DAY = 86_400_000;

let worker: RunningWorker;
let browser: Browser;
let page: Page;

const api = <T = any>(pathname: string, init?: { method?: string; body?: unknown }) => adminApi<T>(worker, pathname, init);

const welcome = {
  id: "welcome",
  name: "Welcome series",
  trigger: { event: "subscribed" },
  steps: [
    { id: "hello", type: "email", template: "welcome-1" },
    { id: "pause", type: "wait", for: "2d" },
    {
      id: "value",
      type: "email",
      template: "welcome-2",
      variants: [
        { template: "welcome-2a", weight: 50 },
        { template: "welcome-2b", weight: 50 },
      ],
      winner: { metric: "click_rate", after: "3d" },
    },
    { id: "seen", type: "wait_for", event: "email_opened", of: "value", timeout: "3d", then: "cta", else: "nudge" },
    { id: "nudge", type: "email", template: "welcome-2-resend", next: "cta" },
    { id: "cta", type: "email", template: "welcome-3" },
  ],
};

const sqlText = (v: string) => `'${v.replaceAll("'", "''")}'`;

/** Flows, a sent and clicked message, a week of rollups through D1; contacts and an order through the API. */
async function seed() {
  const ada = await api<{ id: string }>("/v1/contacts", {
    method: "PUT",
    body: { email: "ada@example.com", first_name: "Ada" },
  });
  await api("/v1/contacts", { method: "PUT", body: { email: "bob@example.com", first_name: "Bob" } });
  const adaId = ada.id;
  const now = Date.now();
  const rows: string[] = [];
  const steps: [string, string, number][] = [
    ["hello", "", 1],
    ["value", "welcome-2a", 0.5],
    ["value", "welcome-2b", 0.5],
    ["nudge", "", 0.3],
    ["cta", "", 0.6],
  ];
  for (let d = 6; d >= 0; d--) {
    const day = new Date(now - d * DAY).toISOString().slice(0, 10);
    const base = 40 + ((d * 37) % 25);
    rows.push(`('welcome', ${sqlText(day)}, '', '', ${base}, 0, 0, 0, 0, 0, 0, 0, 0, ${d % 3})`);
    for (const [step, variant, share] of steps) {
      const sent = Math.round(base * share);
      const opened = Math.round(sent * (variant === "welcome-2b" ? 0.55 : 0.42));
      const clicked = Math.round(opened * (variant === "welcome-2b" ? 0.4 : 0.22));
      rows.push(
        `('welcome', ${sqlText(day)}, ${sqlText(step)}, ${sqlText(variant)}, 0, ${sent}, ${opened}, ${clicked}, ${Math.round(sent * 0.2)}, ${d % 2}, ${Math.round(clicked * 0.2)}, ${Math.round(clicked * 0.2) * 35}, 0, 0)`,
      );
    }
  }
  executeSql(
    worker.persistDir,
    [
      `INSERT INTO flows (id, name, status, version, definition, trigger_key, transactional, created_at, updated_at) VALUES
        ('welcome', 'Welcome series', 'active', 1, ${sqlText(JSON.stringify(welcome))}, 'event:subscribed', 0, ${now}, ${now}),
        ('cart', 'Abandoned cart', 'paused', 1, ${sqlText(JSON.stringify({ id: "cart", name: "Abandoned cart", steps: [] }))}, 'event:added_to_cart', 0, ${now}, ${now});`,
      `INSERT INTO stats_daily (flow_id, day, step_id, variant, entered, sent, unique_opens, unique_clicks, machine_opens, unsubscribes, conversions, revenue, bounces, goals) VALUES ${rows.join(",\n")};`,
      `INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, variant, status, due_at, created_at, sent_at, subject)
        VALUES ('msg_e2e', ${sqlText(adaId)}, 'ada@example.com', 'marketing', 'welcome', 'value', 'welcome-2b', 'sent', ${now - 3 * 3_600_000}, ${now - 3 * 3_600_000}, ${now - 3 * 3_600_000}, 'Three ideas for you');`,
      `INSERT INTO events (id, contact_id, name, properties, source, machine, message_id, ts, received_at)
        VALUES ('evt_e2e_click', ${sqlText(adaId)}, 'email_clicked', ${sqlText(JSON.stringify({ flow_id: "welcome", step_id: "value", variant: "welcome-2b" }))}, 'system', 0, 'msg_e2e', ${now - 2 * 3_600_000}, ${now});`,
    ].join("\n"),
  );
  // Through the real path: the order is attributed to the click above by the rollups.
  await api("/v1/events", {
    method: "POST",
    body: { email: "ada@example.com", name: "order_placed", value: 120, ts: new Date(now - 3_600_000).toISOString() },
  });
}

const shot = (name: string, publishAs?: string) => screenshot(page, name, publishAs);

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  worker = await startWorker();
  await seed();
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

describe("the dashboard in a browser", () => {
  it("logs in with the admin key and shows the overview numbers of the stats API", async () => {
    await page.goto(`${worker.url}/admin`);
    expect(new URL(page.url()).pathname).toBe("/admin/login");
    await page.fill("#key", "wrong-key-0123456789");
    await page.click("button[type=submit]");
    await expect(page.textContent(".error")).resolves.toContain("not the admin key");
    await page.fill("#key", worker.adminKey);
    await page.click("button[type=submit]");
    await page.waitForURL(`${worker.url}/admin`);

    const overview = await api("/v1/stats/overview");
    expect(overview.totals.revenue).toBeGreaterThan(120);
    for (const stat of ["sent", "opened", "clicked", "converted", "revenue"]) {
      const shown = await page.getAttribute(`#totals [data-stat="${stat}"]`, "data-value");
      expect(Number(shown), stat).toBe(overview.totals[stat]);
    }
    expect(await page.locator("#overview-engagement polyline").count()).toBe(3);
    await shot("overview", "overview");
  });

  it("opens a flow and shows its steps with the API's numbers, including the attributed order", async () => {
    await page.click('#flows a:has-text("Welcome series")');
    await page.waitForURL(`${worker.url}/admin/flows/welcome`);
    const stats = await api("/v1/flows/welcome/stats");
    for (const step of welcome.steps) expect(await page.locator(`g[data-step="${step.id}"]`).count()).toBe(1);
    for (const step of stats.steps.filter((s: any) => s.type === "email")) {
      const cells = await page.locator(`#steps tr[data-row="${step.id}"] td`).allTextContents();
      expect(cells[1]?.replaceAll(",", "")).toBe(String(step.sent));
      expect(cells[4]?.replaceAll(",", "")).toBe(String(step.clicked));
    }
    const value = stats.steps.find((s: any) => s.id === "value");
    expect(value.variants.find((v: any) => v.template === "welcome-2b").converted).toBeGreaterThan(0);
    await expect(page.textContent('[data-ab="value"]')).resolves.toContain("welcome-2b");
    await shot("flow", "flow");
  });

  it("pauses the flow", async () => {
    await page.click('h1 button:has-text("Pause")');
    await page.waitForURL(`${worker.url}/admin/flows/welcome`);
    await expect(page.textContent("h1 .badge")).resolves.toBe("paused");
    expect((await api("/v1/flows/welcome/stats")).flow.status).toBe("paused");
  });

  it("searches a contact and shows their timeline", async () => {
    await page.click('header a:has-text("Contacts")');
    await page.fill('input[name="q"]', "ada");
    await page.click('form.range button:has-text("Search")');
    await page.click('#contacts a:has-text("ada@example.com")');
    const timeline = await page.textContent("#timeline");
    expect(timeline).toContain("order_placed");
    expect(timeline).toContain("email_clicked");
    expect(timeline).toContain("Three ideas for you");
    await shot("contact");
  });
});

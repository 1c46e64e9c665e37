/**
 * The contact pages in a real browser: import a 5,000-row CSV through the importer island (a renamed column mapped
 * to a field, another kept as an attribute, one bad row), watch the progress bar reach the end and the failed-row
 * report, find the imported contacts in the list; and the template editor's preview updating while typing.
 * Screenshots go to test-artifacts/e2e/; `UPDATE_SCREENSHOTS=1` also copies them to docs/screenshots/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARTIFACTS, launchBrowser, logIn, querySql, type RunningWorker, screenshot, startWorker } from "./harness.ts";

const ROWS = 5000;
const BAD_LINE = 2501;

let worker: RunningWorker;
let browser: Browser;
let page: Page;

/** Every screenshot here is also one of the README's. */
const shot = (name: string) => screenshot(page, name, name);

/** A CSV as a shop's old tool would export it: "Given name" for the first name, a plan column, one bad address. */
function csvFile(): string {
  const lines = ["Email,Given name,Plan"];
  for (let i = 1; i <= ROWS; i++) {
    const line = i + 1;
    lines.push(line === BAD_LINE ? "not-an-address,Broken,free" : `buyer${i}@shop.example,"Buyer, No. ${i}",${i % 2 ? "pro" : "free"}`);
  }
  const file = path.join(ARTIFACTS, "import-5000.csv");
  writeFileSync(file, `\uFEFF${lines.join("\n")}\n`);
  return file;
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  worker = await startWorker();
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  await logIn(page, worker);
});

afterAll(async () => {
  await browser?.close();
  await worker?.stop();
});

describe("contacts in the dashboard", () => {
  it("imports a 5,000-row CSV with a mapped column and one bad row, and the contacts are in the list", async () => {
    await page.goto(`${worker.url}/admin/contacts/import`);
    await page.setInputFiles('[data-testid="import-file"]', csvFile());
    await page.waitForSelector("#import-mapping");
    // Guessed: Email → email, Plan → attribute; "Given name" is mapped by hand.
    await page.selectOption('select[aria-label="Column Given name"]', "field:first_name");
    expect(await page.inputValue('input[aria-label="Attribute name for Plan"]')).toBe("Plan");
    await page.fill('input[aria-label="Attribute name for Plan"]', "plan");
    await page.fill('input[name="tags"]', "imported");
    await shot("contacts-import-mapping");
    await page.click("button.primary");
    await page.waitForSelector('[data-testid="import-done"]', { timeout: 120_000 });
    expect(await page.$eval("#import-progress", (el) => (el as HTMLProgressElement).value)).toBe(1);
    expect(await page.textContent('[data-testid="import-counts"]')).toMatch(/Created 4999 · updated 0 · unchanged 0 · failed 1/);
    const failure = await page.$$eval("#import-failures tbody tr td", (cells) => cells.map((c) => c.textContent));
    expect(failure[0]).toBe(String(BAD_LINE));
    expect(failure[1]).toBe("not-an-address");
    expect(await page.getAttribute('a[download="failed-rows.csv"]', "href")).toMatch(/^blob:/);
    await shot("contacts-import-done");

    const [stored] = querySql<{ n: number; pro: number; first: string }>(
      worker.persistDir,
      "SELECT count(*) AS n, sum(json_extract(attributes, '$.plan') = 'pro') AS pro, (SELECT first_name FROM contacts WHERE email = 'buyer7@shop.example') AS first FROM contacts",
    );
    expect(stored).toEqual({ n: 4999, pro: 2500, first: "Buyer, No. 7" });
    const enrolled = querySql<{ n: number }>(worker.persistDir, "SELECT count(*) AS n FROM events WHERE name = 'subscribed'");
    expect(enrolled[0]!.n).toBe(0);

    await page.goto(`${worker.url}/admin/contacts`);
    await page.fill('input[name="q"]', "Buyer, No. 4321");
    await page.click("form.range button[type=submit]");
    await page.waitForSelector("#contacts");
    expect(await page.textContent("#contacts tbody")).toContain("buyer4321@shop.example");
    await page.click("text=buyer4321@shop.example");
    await page.waitForSelector("#contact-form");
    expect(await page.inputValue('input[name="first_name"]')).toBe("Buyer, No. 4321");
    expect(await page.inputValue('input[name="tags"]')).toBe("imported");
    await shot("contacts-profile");
  });

  it("the template preview updates while typing, before saving", async () => {
    await page.goto(`${worker.url}/admin/templates/spring-sale`);
    await page.fill("#field-subject", "Spring sale for {{ contact.first_name }}");
    await page.fill("#field-html", "<h1>Twenty percent off, {{ contact.first_name }}</h1>");
    await page.waitForFunction(() => document.querySelector("#live-subject")?.textContent === "Spring sale for Ada");
    const frame = page.frame({ name: "template-draft" });
    await expect
      .poll(async () => (await frame?.textContent("h1").catch(() => null)) ?? null, { timeout: 10_000 })
      .toBe("Twenty percent off, Ada");
    await page.fill("#field-html", "<h1>Thirty percent off</h1>");
    await expect
      .poll(async () => (await frame?.textContent("h1").catch(() => null)) ?? null, { timeout: 10_000 })
      .toBe("Thirty percent off");
    const saved = querySql<{ n: number }>(worker.persistDir, "SELECT count(*) AS n FROM templates WHERE id = 'spring-sale'");
    expect(saved[0]!.n).toBe(0);
    await shot("template-live-preview");
  });
});

/**
 * Driving the flow editor island in a browser test: the side panel, adding a step on an edge, and waiting for the live check and
 * the editor's notices.
 */
import type { Page } from "playwright-core";

/** The editor's side panel. */
export const sidePanel = (page: Page) => page.locator('aside[aria-label="Side panel"]');

/** Waits until the editor's live check has answered for the current draft and shows `text`. */
export async function problemsSay(page: Page, text: string) {
  await page.waitForFunction((expected) => document.querySelector('[data-testid="problem-count"]')?.textContent === expected, text, {
    timeout: 15_000,
  });
}

/** Adds a step of `type` (its menu label) on the edge `edge` ("<from>.<field>"). */
export async function addStep(page: Page, edge: string, type: string) {
  await page.click(`button[data-edge="${edge}"]`);
  await page.click(`.step-menu button:has-text("${type}")`);
}

/** Waits for the editor's notice to say `text`. */
export async function noticeSays(page: Page, text: string) {
  await page.locator(".notice", { hasText: text }).waitFor({ timeout: 15_000 });
}

/** Opens a new flow from the flows list's "New flow", names it and sets the event that starts it. */
export async function startNewFlow(page: Page, baseUrl: string, name: string, event: string) {
  await page.click('header nav a[href="/admin/flows"]');
  await page.click('main a:has-text("New flow")');
  await page.waitForURL(`${baseUrl}/admin/flows/new`);
  await page.fill('input[aria-label="Flow name"]', name);
  await sidePanel(page).locator('input[aria-label="Event"]').fill(event);
}

/** The side panel's fieldset of A/B variant `letter` ("A", "B", …) of the email step being edited. */
export const variantFieldset = (page: Page, letter: string) =>
  sidePanel(page).locator(`fieldset:has(> legend:has-text("Variant ${letter}:"))`);

/** Gives variant `letter` of the email step being edited a subject of its own: a subject-line test on the step's template. */
export async function setVariantSubject(page: Page, letter: string, subject: string) {
  const variant = variantFieldset(page, letter);
  await variant.locator('button:has-text("+ Subject")').click();
  await variant.locator('input[aria-label="Subject"]').fill(subject);
}

/** The confirmation the editor shows before saving an active flow: what the change does to its running contacts. */
export const impactDialog = (page: Page) => page.locator('[role="alertdialog"][aria-label="Save an active flow"]');

/** Saves an active flow: clicks Save, waits for the impact confirmation, confirms with "Save anyway" and returns what it said. */
export async function saveThroughImpact(page: Page): Promise<string> {
  await page.click('button:has-text("Save")');
  await impactDialog(page).waitFor({ timeout: 15_000 });
  const said = (await impactDialog(page).textContent()) ?? "";
  await impactDialog(page).locator('button:has-text("Save anyway")').click();
  return said;
}

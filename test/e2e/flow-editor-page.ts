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

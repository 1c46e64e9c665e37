/**
 * Template previews (API and dashboard): the same render as a real send, for
 * a real contact or a sample one, without queueing or recording anything.
 */
import type { ContactRow, MessageRow, TemplateRow } from "../db/schema";
import type { Config } from "../env";
import { plainLiquid } from "./liquid";
import { type RenderedEmail, renderMessage, templateContext } from "./render";

/** A stand-in contact for previews when none is named. */
export function sampleContact(now: number): ContactRow {
  return {
    id: "preview",
    email: "ada@example.com",
    firstName: "Ada",
    lastName: "Lovelace",
    timezone: "Europe/London",
    consent: "subscribed",
    consentChangedAt: null,
    lifecycleStage: "customer",
    attributes: { birthday: "1815-12-10", discount_code: "WELCOME10", plan: "pro" },
    tags: ["vip"],
    lastOpenedAt: null,
    lastClickedAt: null,
    lastOrderAt: now,
    ordersCount: 1,
    totalSpent: 42.5,
    unopenedStreak: 0,
    createdAt: now,
    updatedAt: now,
  };
}

/** A sample triggering event, so that cart and order templates show their items. */
export const SAMPLE_EVENT = {
  name: "checkout_started",
  properties: {
    url: "https://shop.example/cart",
    items: [
      { name: "Green tea", price: 12.5, quantity: 2, image_url: "https://shop.example/tea.jpg", url: "https://shop.example/tea" },
      { name: "Teapot", price: 30, quantity: 1, image_url: "https://shop.example/pot.jpg", url: "https://shop.example/pot" },
    ],
  },
  value: 55,
};

/** A message row that exists only in memory, for previews and test sends rendered before they are queued. */
export function draftMessage(
  fields: Pick<MessageRow, "id" | "kind" | "toEmail" | "templateId"> & Partial<MessageRow>,
  now: number,
): MessageRow {
  return {
    contactId: null,
    flowId: null,
    flowVersion: null,
    enrollmentId: null,
    stepId: null,
    variant: null,
    broadcastId: null,
    context: {},
    status: "queued",
    dueAt: now,
    attempts: 0,
    leaseUntil: null,
    batchId: null,
    providerId: null,
    reason: null,
    subject: null,
    fromEmail: null,
    html: null,
    text: null,
    headers: null,
    createdAt: now,
    sentAt: null,
    deliveredAt: null,
    openedAt: null,
    clickedAt: null,
    bouncedAt: null,
    complainedAt: null,
    ...fields,
  };
}

function previewMessage(
  template: Pick<TemplateRow, "id">,
  contact: ContactRow,
  event: { name: string; properties: Record<string, unknown>; value: number | null },
  now: number,
): MessageRow {
  return draftMessage(
    {
      id: "preview",
      kind: "marketing",
      toEmail: contact.email,
      contactId: contact.id,
      templateId: template.id,
      context: { event: { ...event, ts: now }, flow: { id: "preview", name: "Preview" } },
    },
    now,
  );
}

/** A template's subject rendered for the sample contact and event (for lists); throws when the Liquid fails. */
export function sampleSubject(template: Pick<TemplateRow, "id" | "subject">, config: Config, now = Date.now()): Promise<string> {
  const contact = sampleContact(now);
  const context = templateContext(previewMessage(template, contact, SAMPLE_EVENT, now), contact, config, `${config.PUBLIC_URL}/u/preview`);
  return plainLiquid.parseAndRender(template.subject, context);
}

/** Renders a template as a marketing email to `contact`, with `event` as the trigger. */
export function renderPreview(
  template: TemplateRow,
  contact: ContactRow,
  config: Config,
  event: { name: string; properties: Record<string, unknown>; value: number | null } = SAMPLE_EVENT,
  now = Date.now(),
): Promise<RenderedEmail> {
  return renderMessage(previewMessage(template, contact, event, now), template, contact, config);
}

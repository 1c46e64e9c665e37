/**
 * Consent changes that come from the recipient: unsubscribing (the page, the
 * one-click header, a complaint) and confirming a double opt-in. Each takes
 * effect at once, emits its event into the contact's flows (which exit their
 * marketing enrollments on `unsubscribed`), and is harmless to repeat.
 */
import { sql } from "drizzle-orm";
import { contactChangeEvents } from "../contact/changes";
import { findContact, upsertContact } from "../db/contacts";
import { type ContactRow, messages } from "../db/schema";
import { clearErasedKey } from "../db/suppressions";
import { deliverNow, type PipelineContext, type RecordOptions, recordEvents } from "../pipeline/pipeline";
import { signExpiringToken } from "./tokens";

/** How long a double opt-in link stays valid. */
export const CONFIRM_TTL_MS = 7 * 86_400_000;

/**
 * Unsubscribes a contact from marketing: queued marketing mail is suppressed, `unsubscribed` emitted (with the
 * caller's recording options). False if unknown.
 */
export async function unsubscribeContact(
  ctx: PipelineContext,
  contactId: string,
  now: number,
  options: RecordOptions = {},
): Promise<boolean> {
  const { db } = ctx;
  const contact = await findContact(db, contactId);
  if (!contact || contact.id !== contactId) return false;
  await db.run(sql`UPDATE messages SET status = 'suppressed', reason = 'unsubscribed'
    WHERE contact_id = ${contactId} AND status = 'queued' AND kind = 'marketing'`);
  if (contact.consent === "unsubscribed") return true;
  const { changes } = await upsertContact(db, { email: contact.email, consent: "unsubscribed" }, now);
  await recordEvents(ctx, contactChangeEvents(contactId, changes, now), now, options);
  return true;
}

/** Where a double opt-in link stands: it confirms only while consent has not changed since it was issued. */
export type ConfirmationState = "valid" | "already_confirmed" | "no_longer_valid";

/**
 * Whether a confirmation issued at `issuedAt` may still confirm. A link is single-use and never re-subscribes
 * anyone: once consent changed after it was issued (confirmed, unsubscribed, re-sent), it is spent. A link sent to
 * a contact who was not pending (a customer, or someone who had unsubscribed, signing up on a form) confirms as
 * long as their consent stays what it was when they asked.
 */
export function confirmationState(contact: ContactRow | undefined, issuedAt: number): ConfirmationState {
  if (!contact) return "no_longer_valid";
  if (contact.consent === "subscribed") return "already_confirmed";
  if ((contact.consentChangedAt ?? 0) > issuedAt) return "no_longer_valid";
  return "valid";
}

/** Confirms a pending double opt-in issued at `issuedAt`: the contact becomes subscribed and `subscribed` starts their welcome flows. */
export async function confirmSubscription(
  ctx: PipelineContext,
  contactId: string,
  issuedAt: number,
  now: number,
): Promise<ConfirmationState> {
  const { db } = ctx;
  const contact = await findContact(db, contactId);
  const state = confirmationState(contact?.id === contactId ? contact : undefined, issuedAt);
  if (state !== "valid" || !contact) return state;
  // Opting in again themselves is the one way an erased address may be mailed again.
  await clearErasedKey(db, ctx.config.SIGNING_SECRET, contact.email);
  const { changes } = await upsertContact(db, { email: contact.email, consent: "subscribed" }, now);
  await recordEvents(ctx, contactChangeEvents(contactId, changes, now), now);
  return "valid";
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The id of the confirmation message sent to `email` on the UTC day of `now`: keyed by address, not contact id, so at
 * most one confirmation per address and day exists.
 */
export async function confirmationId(email: string, now: number): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(`nurture-confirm:${email}`)));
  const hex = [...digest.slice(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `confirm_${hex}_${new Date(now).toISOString().slice(0, 10)}`;
}

/**
 * Queues and sends the double opt-in email for a contact not yet subscribed: at most one per address
 * and UTC day (a repeat that day is a no-op). The link carries its issue time, which makes it single-use.
 */
export async function sendConfirmation(ctx: PipelineContext, contact: ContactRow, now: number): Promise<void> {
  const { config, db } = ctx;
  const token = await signExpiringToken(config.SIGNING_SECRET, "confirm", [contact.id, now], now + CONFIRM_TTL_MS);
  const link = `${config.PUBLIC_URL}/confirm/${token}`;
  const name = contact.firstName ? `, ${escapeHtml(contact.firstName)}` : "";
  const id = await confirmationId(contact.email, now);
  await db
    .insert(messages)
    .values({
      id,
      contactId: contact.id,
      toEmail: contact.email,
      kind: "confirmation",
      status: "queued",
      dueAt: now,
      createdAt: now,
      subject: "Please confirm your subscription",
      html: `<p>Hi${name},</p><p>Please confirm that you want to hear from us:</p><p><a href="${link}">Yes, subscribe me</a></p><p>If you did not ask for this, ignore this email and you will get nothing more.</p>`,
      text: `Hi${contact.firstName ? `, ${contact.firstName}` : ""},\n\nPlease confirm that you want to hear from us:\n${link}\n\nIf you did not ask for this, ignore this email and you will get nothing more.`,
    })
    .onConflictDoNothing();
  await deliverNow(ctx, [id]);
}

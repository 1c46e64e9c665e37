/**
 * What a sign-up form does to contacts, wherever it was filled in (the snippet's `data-nurture-signup` form or the
 * hosted `/subscribe` page). The address is a stranger's word, so the form never overwrites a known contact's
 * fields; with double opt-in (the default) it only ever sends the confirmation email, and the person's own confirm
 * subscribes them. With `SIGNUP_OPT_IN=single` the shop accepts the risk that anyone can subscribe anyone: a new or
 * never-subscribed address is subscribed at once, except where only the person may act — an address that
 * unsubscribed or was erased still has to confirm.
 */
import { contactChangeEvents } from "../contact/changes";
import { createContactIfAbsent, diffContact, findContact, upsertContact } from "../db/contacts";
import type { ContactRow } from "../db/schema";
import { isErasedAddress } from "../db/suppressions";
import { type Config, SNIPPET_TRAIT_FIELDS } from "../env";
import { type PipelineContext, recordEvents } from "../pipeline/pipeline";
import { sendConfirmation } from "./consent";

const MAX_TRAIT_LENGTH = 200;

type TraitField = (typeof SNIPPET_TRAIT_FIELDS)[keyof typeof SNIPPET_TRAIT_FIELDS];

/** The allow-listed traits (SNIPPET_TRAITS) as contact fields and attributes; other names and non-scalar values are dropped. */
export function allowedTraits(config: Config, traits: Record<string, unknown> | undefined) {
  const fields: Partial<Record<TraitField, string>> = {};
  const attributes: Record<string, string | number | boolean> = {};
  for (const name of config.SNIPPET_TRAITS) {
    const value = traits?.[name];
    const field = SNIPPET_TRAIT_FIELDS[name as keyof typeof SNIPPET_TRAIT_FIELDS];
    if (field) {
      const text = typeof value === "string" ? value.trim().slice(0, MAX_TRAIT_LENGTH) : "";
      // SnippetTraits has already dropped a time zone that Intl does not know.
      if (text) fields[field] = text;
    } else if (typeof value === "string") attributes[name] = value.slice(0, MAX_TRAIT_LENGTH);
    else if (typeof value === "boolean" || (typeof value === "number" && Number.isFinite(value))) attributes[name] = value;
  }
  return { fields, attributes };
}

/** One filled-in sign-up form: the address (already validated and lower-cased) and the form's other fields. */
export interface SignupForm {
  email: string;
  traits?: Record<string, unknown>;
}

/** What a sign-up did: the confirmation email was sent, the contact was subscribed, or nothing was needed. */
export type SignupOutcome = "confirmation_sent" | "subscribed" | "already_subscribed";

/** Whether a sign-up of a contact in this state sends a confirmation email (what the per-IP signup limit counts). */
export function signupMayMail(contact: ContactRow | undefined): boolean {
  return contact?.consent !== "subscribed";
}

async function subscribe(ctx: PipelineContext, contact: ContactRow, now: number): Promise<void> {
  const { changes } = await upsertContact(ctx.db, { email: contact.email, consent: "subscribed" }, now);
  await recordEvents(ctx, contactChangeEvents(contact.id, changes, now), now);
}

/** Applies a sign-up form (see the module header) and says what it did. */
export async function signUpFromForm(ctx: PipelineContext, form: SignupForm, now: number): Promise<SignupOutcome> {
  const { config, db } = ctx;
  const single = config.SIGNUP_OPT_IN === "single";
  const known = await findContact(db, form.email);
  if (known) {
    if (known.consent === "subscribed") return "already_subscribed";
    if (single && known.consent !== "unsubscribed") {
      await subscribe(ctx, known, now);
      return "subscribed";
    }
    await sendConfirmation(ctx, known, now);
    return "confirmation_sent";
  }
  // An erased person's own confirmed opt-in is the one thing that may lift their erased key (SPEC section 9).
  const subscribeNow = single && !(await isErasedAddress(db, config.SIGNING_SECRET, form.email));
  const { fields, attributes } = allowedTraits(config, form.traits);
  const created = await createContactIfAbsent(
    db,
    { email: form.email, ...fields, attributes, consent: subscribeNow ? "subscribed" : "pending" },
    now,
  );
  // Created meanwhile by another request: that one decides, as if this form had come second.
  if (!created) return signUpFromForm(ctx, form, now);
  if (!subscribeNow) {
    await sendConfirmation(ctx, created, now);
    return "confirmation_sent";
  }
  await recordEvents(ctx, contactChangeEvents(created.id, diffContact(undefined, created), now), now);
  return "subscribed";
}

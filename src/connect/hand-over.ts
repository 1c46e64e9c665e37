/**
 * Hands a mapped delivery to the same path as `POST /v1/events`: the contact is upserted by email (its fields,
 * attributes and the consent `consentToWrite` allows, with the change events a `PUT /v1/contacts` would emit),
 * then the event goes through `recordEvents`, which stores a known id once and lets the contact's flows react.
 */
import { contactChangeEvents } from "../contact/changes";
import { findContactByStripeCustomer } from "../db/connectors";
import { findContact, upsertContact } from "../db/contacts";
import type { EventInsert } from "../db/events";
import { emailInput } from "../http/shared-schemas";
import { type PipelineContext, recordEvents } from "../pipeline/pipeline";
import { consentToWrite, type Mapping } from "./connector";

/** What became of a delivery, as the Connect page shows it. */
export interface HandOverResult {
  result: "processed" | "duplicate" | "ignored";
  detail: string;
}

/** Writes a mapped delivery's contact and event; a redelivered event is reported as a duplicate and changes nothing. */
export async function handOverMapping(
  ctx: PipelineContext,
  mapping: Extract<Mapping, { kind: "mapped" }>,
  now: number,
): Promise<HandOverResult> {
  const { db } = ctx;
  const { key } = mapping.contact;
  let email: string;
  if ("email" in key) {
    const parsed = emailInput.safeParse(key.email);
    if (!parsed.success) return { result: "ignored", detail: "the payload's email is not a valid address" };
    email = parsed.data;
  } else {
    const known = await findContactByStripeCustomer(db, key.stripeCustomerId);
    // Subscriptions name the customer by id only; an invoice records it first (README, Connect your shop).
    if (!known) return { result: "ignored", detail: `no contact has stripe_customer_id ${key.stripeCustomerId} yet` };
    email = known.email;
  }
  const existing = await findContact(db, email);
  const consent = consentToWrite(mapping.contact.marketing, existing);
  const { contact, changes } = await upsertContact(
    db,
    {
      email,
      firstName: mapping.contact.firstName,
      lastName: mapping.contact.lastName,
      attributes: mapping.contact.attributes,
      consent,
    },
    now,
  );
  const rows: EventInsert[] = contactChangeEvents(contact.id, changes, now);
  const event = mapping.event;
  if (event) {
    rows.push({
      id: event.id,
      contactId: contact.id,
      anonymousId: null,
      name: event.name,
      properties: event.properties,
      value: event.value,
      source: "webhook",
      machine: false,
      messageId: null,
      ts: event.ts,
    });
  }
  const { newIds } = await recordEvents(ctx, rows, now);
  if (event && !newIds.has(event.id)) return { result: "duplicate", detail: `${event.name} ${event.id} was already recorded` };
  const what = event ? event.name : changes.length > 0 ? `contact ${changes.map((c) => c.attribute).join(", ")}` : "contact unchanged";
  // No address in the detail: the deliveries table must not keep a copy of a contact that may be erased.
  return { result: "processed", detail: what };
}

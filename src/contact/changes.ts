/**
 * Turns a contact write into the system events of SPEC section 6:
 * `attribute_changed` for each changed attribute, and `subscribed` /
 * `unsubscribed` when consent was explicitly moved.
 */
import type { AttributeChange } from "../db/contacts";
import type { EventInsert } from "../db/events";
import type { Consent } from "../db/schema";

/** A fresh id for an event the system emits. */
export function newEventId(): string {
  return `evt_${crypto.randomUUID().replaceAll("-", "")}`;
}

/** A system event about one contact, ready to record. */
export function systemEvent(contactId: string, name: string, properties: Record<string, unknown>, ts: number): EventInsert {
  return {
    id: newEventId(),
    contactId,
    anonymousId: null,
    name,
    properties,
    value: null,
    source: "system",
    machine: false,
    messageId: null,
    ts,
  };
}

/** The events a contact write emits, given what changed and which consent the caller asked for. */
export function contactChangeEvents(
  contactId: string,
  changes: AttributeChange[],
  requestedConsent: Consent | undefined,
  now: number,
): EventInsert[] {
  const out: EventInsert[] = [];
  for (const change of changes) {
    if (change.attribute === "consent") {
      if (requestedConsent === "subscribed" || requestedConsent === "unsubscribed") {
        out.push(systemEvent(contactId, requestedConsent, { from: change.from }, now));
      }
      continue;
    }
    out.push(systemEvent(contactId, "attribute_changed", { attribute: change.attribute, from: change.from, to: change.to }, now));
  }
  return out;
}

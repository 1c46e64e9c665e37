/**
 * Turns a contact write into the system events of SPEC section 6:
 * `attribute_changed` for each changed attribute, and `subscribed` /
 * `unsubscribed` whenever consent became one of them, by whichever path (SPEC section 9).
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

/**
 * The events a contact write emits, given what changed. A change of consent is the only source of `subscribed`, so
 * it is emitted exactly once per opt-in, and a contact created as `subscribed` (change from null) emits it too.
 */
export function contactChangeEvents(contactId: string, changes: AttributeChange[], now: number): EventInsert[] {
  const out: EventInsert[] = [];
  for (const change of changes) {
    if (change.attribute === "consent") {
      const to = change.to as Consent;
      if (to === "subscribed" || to === "unsubscribed") out.push(systemEvent(contactId, to, { from: change.from }, now));
      continue;
    }
    out.push(systemEvent(contactId, "attribute_changed", { attribute: change.attribute, from: change.from, to: change.to }, now));
  }
  return out;
}

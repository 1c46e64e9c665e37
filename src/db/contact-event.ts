import type { EventSource } from "./schema";

/**
 * A value parsed from JSON. Kept non-recursive on purpose: the RPC stub types
 * cannot expand a recursive JSON type, and `unknown` does not cross RPC at all.
 */
export type JsonValue = string | number | boolean | null | object;

/** The event a ContactTimer receives: a stored event row, as plain data that crosses the RPC boundary. */
export interface ContactEvent {
  id: string;
  contactId: string;
  name: string;
  properties: Record<string, JsonValue>;
  value: number | null;
  source: EventSource;
  machine: boolean;
  messageId: string | null;
  /** When it happened (ms since epoch). */
  ts: number;
}

/** The event a ContactTimer receives: a stored event row, as plain data that crosses the RPC boundary. */
export interface ContactEvent {
  id: string;
  contactId: string;
  name: string;
  properties: Record<string, unknown>;
  value: number | null;
  source: "api" | "collect" | "system" | "webhook";
  machine: boolean;
  messageId: string | null;
  /** When it happened (ms since epoch). */
  ts: number;
}

/**
 * Tracked links. A click token carries, signed, everything the redirect needs (the message, the link's index
 * and URL, the contact, flow and step), so a click is answered without a storage read; the links are also
 * recorded in D1 for reports and for matching the provider's click reports.
 */
import type { MessageRow } from "../db/schema";
import { signToken, verifyToken } from "./tokens";

/** What a click token says. */
export interface ClickTarget {
  messageId: string;
  index: number;
  contactId: string | null;
  flowId: string | null;
  stepId: string | null;
  url: string;
}

/** The token of link `index` of a message, going to `url`. */
export function signClickToken(
  secret: string,
  message: Pick<MessageRow, "id" | "contactId" | "flowId" | "stepId">,
  index: number,
  url: string,
): Promise<string> {
  // `|` separates token fields; percent-encoded it means the same in a URL.
  const fields = [message.id, index, message.contactId ?? "", message.flowId ?? "", message.stepId ?? "", url.replaceAll("|", "%7C")];
  return signToken(secret, "click", fields);
}

/** The target of a click token, or null when it is forged, altered, truncated or malformed. */
export async function readClickToken(secret: string, token: string): Promise<ClickTarget | null> {
  const fields = await verifyToken(secret, "click", token);
  if (fields?.length !== 6) return null;
  const [messageId, index, contactId, flowId, stepId, url] = fields as [string, string, string, string, string, string];
  if (!/^\d{1,4}$/.test(index)) return null;
  return { messageId, index: Number(index), contactId: contactId || null, flowId: flowId || null, stepId: stepId || null, url };
}

/** The recorded URL with `utm_*` tags added (a link's own tags are kept) and `_nt` set; null when it is not http(s). */
export function trackedDestination(recorded: string, campaign: string | null, content: string | null, identity: string): string | null {
  let url: URL;
  try {
    url = new URL(recorded);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  const tags: [string, string | null][] = [
    ["utm_source", "nurture"],
    ["utm_medium", "email"],
    ["utm_campaign", campaign],
    ["utm_content", content],
  ];
  for (const [name, value] of tags) if (value && !url.searchParams.has(name)) url.searchParams.set(name, value);
  if (identity) url.searchParams.set("_nt", identity);
  return url.toString();
}

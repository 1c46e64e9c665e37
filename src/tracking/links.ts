/**
 * Tracked links. A click token carries, signed, everything the redirect needs (the message, the link's index
 * and URL, the contact, flow and step), so a click is answered without a storage read; the links are also
 * recorded in D1 for reports and for matching the provider's click reports. A click to the shop's own site
 * also carries `_nt`, the signed identity (contact and message) the snippet links the visitor with; it is
 * never given to another site, where it would let that site act as the contact.
 */
import type { MessageRow } from "../db/schema";
import type { Config } from "../env";
import { signExpiringToken, signToken, verifyExpiringToken, verifyToken } from "./tokens";

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

/** How long the `_nt` identity a click carries to the site stays valid. */
const IDENTITY_TTL_MS = 30 * 86_400_000;

/** Who a `_nt` identity names: the contact, and the message whose link they followed. */
export interface Identity {
  contactId: string;
  messageId: string;
}

/** The `_nt` identity for a contact arriving from a link in message `messageId`, valid until `expiresAt`. */
export function signIdentityToken(secret: string, identity: Identity, expiresAt: number): Promise<string> {
  return signExpiringToken(secret, "identity", [identity.contactId, identity.messageId], expiresAt);
}

/** The contact and message a `_nt` identity names at `now`, or null when it is forged, altered, expired or malformed. */
export async function readIdentityToken(secret: string, token: string, now: number): Promise<Identity | null> {
  const fields = await verifyExpiringToken(secret, "identity", token, now);
  if (fields?.length !== 2) return null;
  const [contactId, messageId] = fields as [string, string];
  return contactId && messageId ? { contactId, messageId } : null;
}

function hostOf(origin: string | undefined): string[] {
  try {
    return origin ? [new URL(origin).host] : [];
  } catch {
    return []; // an ALLOWED_ORIGINS entry that is not a URL names no host
  }
}

/** Whether `host` is the shop's own site: SHOP_URL's or one of ALLOWED_ORIGINS' (where the snippet runs). */
function isShopHost(config: Config, host: string): boolean {
  return [config.SHOP_URL, ...config.ALLOWED_ORIGINS].flatMap(hostOf).includes(host);
}

/**
 * Where a click goes: the recorded URL with `utm_*` tags added (a link's own tags are kept) and, on the shop's own
 * hosts only, `_nt` set to the contact's identity from this message; null when the URL is not http(s).
 */
export async function trackedDestination(target: ClickTarget, config: Config, now: number): Promise<string | null> {
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  const tags: [string, string | null][] = [
    ["utm_source", "nurture"],
    ["utm_medium", "email"],
    ["utm_campaign", target.flowId],
    ["utm_content", target.stepId],
  ];
  for (const [name, value] of tags) if (value && !url.searchParams.has(name)) url.searchParams.set(name, value);
  if (target.contactId && isShopHost(config, url.host)) {
    const identity = { contactId: target.contactId, messageId: target.messageId };
    url.searchParams.set("_nt", await signIdentityToken(config.SIGNING_SECRET, identity, now + IDENTITY_TTL_MS));
  }
  return url.toString();
}

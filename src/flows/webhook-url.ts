/**
 * Which URLs a flow's `webhook` step may call. A Worker cannot resolve a name
 * and check the address before fetching it, so the rule reads the URL itself,
 * as the WHATWG parser normalises it (which turns decimal, octal, hex and short
 * IPv4 forms into dotted decimal, and IPv4-mapped IPv6 into hex): https only
 * (plain http only while Nurture itself runs locally), never an IP address
 * literal (loopback, private, link-local, CGNAT and the rest are all literals,
 * and a public one names no service worth trusting), never `localhost` nor a
 * name that only a local resolver answers. Pure: the flow API applies it on
 * save, the ContactTimer again before every call, and neither follows
 * redirects, since a redirect could lead anywhere.
 */

/** Why a webhook URL is refused. */
export type WebhookUrlRefusal = "invalid_url" | "not_https" | "ip_address" | "local_host";

/** What the deployment allows: plain http only when Nurture itself is served from this machine. */
export interface WebhookPolicy {
  allowHttp: boolean;
}

/** Names that only a local resolver answers (RFC 6761, RFC 6762, RFC 8375, and the common private suffixes). */
const LOCAL_SUFFIXES = ["localhost", "local", "localdomain", "internal", "home.arpa", "lan", "intranet"];

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** The webhook policy of a deployment served at `publicUrl`: http is allowed only for a local dev server. */
export function webhookPolicy(publicUrl: string): WebhookPolicy {
  const host = parseUrl(publicUrl)?.hostname.toLowerCase() ?? "";
  return { allowHttp: LOOPBACK_HOSTS.has(host) || host.endsWith(".localhost") };
}

/** Why `url` may not be a webhook target under `policy`, or null when it may. */
export function webhookUrlRefusal(url: string, policy: WebhookPolicy): WebhookUrlRefusal | null {
  const parsed = parseUrl(url);
  if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) return "invalid_url";
  if (parsed.protocol === "http:" && !policy.allowHttp) return "not_https";
  const host = parsed.hostname.toLowerCase().replace(/\.$/, "");
  if (host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host)) return "ip_address";
  if (!host.includes(".") || LOCAL_SUFFIXES.some((suffix) => host === suffix || host.endsWith(`.${suffix}`))) return "local_host";
  return null;
}

function parseUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/** A sentence for each refusal, for the API's error and the logs. */
export const WEBHOOK_URL_REFUSALS: Record<WebhookUrlRefusal, string> = {
  invalid_url: "A webhook URL must be an absolute http(s) URL",
  not_https: "A webhook URL must use https",
  ip_address: "A webhook URL must name a host, not an IP address",
  local_host: "A webhook URL must name a public host, not localhost or a local network name",
};

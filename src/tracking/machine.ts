/**
 * Tells machine opens and clicks from people's. Mail privacy proxies and link
 * scanners fetch pixels and links without anyone reading: Apple Mail Privacy
 * Protection preloads every image on delivery with a bare `Mozilla/5.0`
 * agent; scanners (Safe Links, Proofpoint, Mimecast…) often spoof a browser,
 * so besides `isbot` the timing gives them away. Pure: callers pass what they know.
 */
import { isbot } from "isbot";

/** Opens or clicks this soon after sending are prefetches or scans, not people. */
export const PREFETCH_WINDOW_MS = 10_000;
/** Several different links of one message clicked this close together: a scanner following every link. */
export const SWEEP_WINDOW_MS = 2_000;
/** A click with no open before it, this soon after sending, is a scanner (a person would have had to open it). */
export const UNOPENED_CLICK_WINDOW_MS = 60_000;

/** Agents of privacy proxies that preload images without a reader. */
const PROXY_AGENTS = [/^Mozilla\/5\.0$/, /YahooMailProxy/i, /Mimecast/i, /Barracuda/i, /Proofpoint/i];

export interface OpenFacts {
  userAgent: string;
  sentAt: number | null;
  now: number;
}

/** Why an open is a machine's, or null for a person's. */
export function machineOpen({ userAgent, sentAt, now }: OpenFacts): string | null {
  const ua = userAgent.trim();
  if (!ua) return "no user agent";
  if (PROXY_AGENTS.some((p) => p.test(ua))) return "privacy proxy";
  // Gmail and Outlook fetch images through their proxies when the reader opens the message: those count.
  if (/GoogleImageProxy|ggpht\.com|OutlookImageProxy/i.test(ua)) return null;
  if (isbot(ua)) return "bot user agent";
  if (sentAt !== null && now - sentAt < PREFETCH_WINDOW_MS) return "opened within seconds of sending";
  return null;
}

export interface ClickFacts {
  method: string;
  userAgent: string;
  sentAt: number | null;
  now: number;
  /** Whether a human open of this message was recorded before. */
  opened: boolean;
  /** When other links of this message (not this one) were last clicked. */
  otherLinkClickedAt: number | null;
}

/** Why a click is a machine's, or null for a person's. */
export function machineClick(f: ClickFacts): string | null {
  if (f.method === "HEAD") return "HEAD request";
  const ua = f.userAgent.trim();
  if (!ua) return "no user agent";
  if (isbot(ua) || PROXY_AGENTS.some((p) => p.test(ua))) return "bot user agent";
  const sinceSent = f.sentAt === null ? Number.POSITIVE_INFINITY : f.now - f.sentAt;
  if (sinceSent < PREFETCH_WINDOW_MS) return "clicked within seconds of sending";
  if (f.otherLinkClickedAt !== null && f.now - f.otherLinkClickedAt < SWEEP_WINDOW_MS) return "every link clicked at once";
  if (!f.opened && sinceSent < UNOPENED_CLICK_WINDOW_MS) return "clicked unopened within a minute of sending";
  return null;
}

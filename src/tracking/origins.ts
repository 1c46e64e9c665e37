/**
 * Which page origins may post snippet events. ALLOWED_ORIGINS lists exact
 * origins; the entry `local` (set by `npm start`, never a default) also allows
 * any page served from this machine — localhost, 127.0.0.1 or [::1] on any
 * port — so a test shop can try the snippet locally.
 */

/** The ALLOWED_ORIGINS entry that admits every loopback origin. */
export const LOCAL_ORIGINS = "local";

const LOOPBACK_HOSTS: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** True when a page on this machine sent it: an http(s) origin whose host is loopback. */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return (url.protocol === "http:" || url.protocol === "https:") && url.origin === origin && LOOPBACK_HOSTS.has(url.hostname);
  } catch {
    return false;
  }
}

/** True when `origin` is listed, or is a loopback origin and the list says `local`. */
export function originAllowed(origin: string, allowed: readonly string[]): boolean {
  return allowed.includes(origin) || (allowed.includes(LOCAL_ORIGINS) && isLoopbackOrigin(origin));
}

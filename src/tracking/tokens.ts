/**
 * Signed tokens for everything a recipient or a visitor carries back to us:
 * open pixels, click links, unsubscribe and confirmation links, and the `_nt`
 * identity parameter. A token is `base64url(payload) "." base64url(mac)`, where
 * the payload is `kind|field|field…` and the mac is the first 16 bytes of
 * HMAC-SHA256(SIGNING_SECRET, "nurture-token:" + payload), through Web Crypto.
 * Verification is constant-time and rejects any change, truncation or kind mix-up.
 */

/** What a token is for; one letter on the wire. */
export const TOKEN_KINDS = {
  open: "o",
  click: "c",
  unsubscribe: "u",
  confirm: "f",
  identity: "n",
  /** Dashboard login session (reports/dashboard). */
  session: "s",
  /** Dashboard form token, bound to one session. */
  csrf: "x",
} as const;
export type TokenKind = keyof typeof TOKEN_KINDS;

const MAC_BYTES = 16;
/** Click tokens carry their link's URL; longer tokens are refused unread. */
export const TOKEN_MAX_LENGTH = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const keyCache = new Map<string, Promise<CryptoKey>>();

/** The HMAC-SHA256 signing key for a secret, imported once per isolate. */
export function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    keyCache.set(secret, key);
  }
  return key;
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  // Only the canonical encoding is accepted, so every token has exactly one spelling.
  return toBase64Url(bytes) === text ? bytes : null;
}

async function mac(secret: string, payload: string): Promise<Uint8Array> {
  const signature = await crypto.subtle.sign("HMAC", await hmacKey(secret), encoder.encode(`nurture-token:${payload}`));
  return new Uint8Array(signature).slice(0, MAC_BYTES);
}

/** Signs `fields` (which must not contain `|`) as a token of `kind`. */
export async function signToken(secret: string, kind: TokenKind, fields: (string | number)[]): Promise<string> {
  const parts = fields.map(String);
  if (parts.some((p) => p.includes("|"))) throw new Error("token fields cannot contain '|'");
  const payload = [TOKEN_KINDS[kind], ...parts].join("|");
  return `${toBase64Url(encoder.encode(payload))}.${toBase64Url(await mac(secret, payload))}`;
}

/** Verifies a token of `kind` and returns its fields, or null when it is forged, altered, truncated or of another kind. */
export async function verifyToken(secret: string, kind: TokenKind, token: string): Promise<string[] | null> {
  if (token.length > TOKEN_MAX_LENGTH) return null;
  const [payloadPart, macPart, extra] = token.split(".");
  if (payloadPart === undefined || macPart === undefined || extra !== undefined) return null;
  const payloadBytes = fromBase64Url(payloadPart);
  const givenMac = fromBase64Url(macPart);
  if (!payloadBytes || !givenMac || givenMac.length !== MAC_BYTES) return null;
  let payload: string;
  try {
    payload = decoder.decode(payloadBytes);
  } catch {
    return null;
  }
  const expected = await mac(secret, payload);
  if (!crypto.subtle.timingSafeEqual(expected, givenMac)) return null;
  const [tag, ...fields] = payload.split("|");
  return tag === TOKEN_KINDS[kind] ? fields : null;
}

/** Signs an expiring token: the expiry (ms since epoch) is the last signed field. */
export async function signExpiringToken(secret: string, kind: TokenKind, fields: (string | number)[], expiresAt: number): Promise<string> {
  return signToken(secret, kind, [...fields, Math.floor(expiresAt)]);
}

/** Verifies an expiring token at `now`; an expired token is rejected like a forged one. */
export async function verifyExpiringToken(secret: string, kind: TokenKind, token: string, now: number): Promise<string[] | null> {
  const fields = await verifyToken(secret, kind, token);
  if (!fields || fields.length === 0) return null;
  const expiresAt = Number(fields.at(-1));
  if (!Number.isFinite(expiresAt) || expiresAt <= now) return null;
  return fields.slice(0, -1);
}

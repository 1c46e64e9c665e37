/**
 * HMAC-SHA256 signatures of webhook bodies, checked with Web Crypto: `crypto.subtle.verify` with an HMAC key
 * compares in constant time, so a forger learns nothing from how long a wrong guess takes. Verifies only; the
 * platform modules decide which bytes are signed and how the signature is written.
 */

const encoder = new TextEncoder();

async function hmacKey(secret: string): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
}

/** The bytes of a base64 string, or null when it is not base64. */
function base64Bytes(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  try {
    return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}

/** The bytes of a hex string, or null when it is not hex. */
function hexBytes(text: string): Uint8Array | null {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(text)) return null;
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

/** Whether `signature` (base64 or hex) is the HMAC-SHA256 of `signed` with `secret`. */
export async function hmacSignatureValid(
  secret: string,
  signed: string,
  signature: string | null | undefined,
  encoding: "base64" | "hex",
): Promise<boolean> {
  const given = signature ? (encoding === "base64" ? base64Bytes(signature.trim()) : hexBytes(signature.trim())) : null;
  // A SHA-256 MAC is 32 bytes; anything else cannot match and is not worth a key import.
  if (given?.byteLength !== 32) return false;
  return crypto.subtle.verify("HMAC", await hmacKey(secret), given, encoder.encode(signed));
}

/** Whether any of the hex signatures is the HMAC-SHA256 of `signed` (secret rotation: the platform signs with old and new). */
export async function anyHmacSignatureValid(secret: string, signed: string, signatures: string[]): Promise<boolean> {
  for (const signature of signatures) {
    if (await hmacSignatureValid(secret, signed, signature, "hex")) return true;
  }
  return false;
}

/** A deterministic delivery id for a platform that sends none: the same body dedupes to the same id. */
export async function bodyDigest(body: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(body));
  return `sha256_${[...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

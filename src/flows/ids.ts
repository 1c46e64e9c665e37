/**
 * Deterministic ids and draws. A retried alarm or a redelivered event must
 * produce the same enrollment, message and variant as the first attempt, so
 * everything that could repeat is derived from stable inputs by a hash, never
 * from the clock or Math.random. Not cryptographic: these ids are not secrets.
 */

/** A 53-bit string hash (cyrb53), seeded. */
function hash53(text: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** A stable id with a prefix, from the parts that identify the thing (about 106 bits). */
export function stableId(prefix: string, ...parts: (string | number)[]): string {
  const text = parts.join("\u001f");
  return `${prefix}_${hash53(text, 1).toString(36).padStart(11, "0")}${hash53(text, 2).toString(36).padStart(11, "0")}`;
}

/** A stable draw in [0, 1) for the given parts. */
export function stableDraw(...parts: (string | number)[]): number {
  return hash53(parts.join("\u001f"), 7) / 2 ** 53;
}

/** The index chosen by weight for a stable draw. */
export function pickWeighted(weights: readonly number[], draw: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let at = draw * total;
  for (let i = 0; i < weights.length; i++) {
    at -= weights[i] as number;
    if (at < 0) return i;
  }
  return weights.length - 1;
}

/**
 * Durations of the flow language (`30m`, `1h`, `2d`, `1w`, and `5s` for tests),
 * parsed in this one place. Signed offsets (`-1d`) are used by date triggers,
 * `until_attribute` and `for_property` waits.
 */

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** The units a duration may have. */
export const DURATION_UNITS = ["s", "m", "h", "d", "w"] as const;
export type DurationUnit = (typeof DURATION_UNITS)[number];

/** A duration: a positive whole number and a unit. */
export const DURATION_PATTERN = /^([1-9]\d{0,5})(s|m|h|d|w)$/;
/** An offset: a duration with an optional sign, or zero. */
export const OFFSET_PATTERN = /^([+-]?)(0|[1-9]\d{0,5})(s|m|h|d|w)$/;

/** Milliseconds in a duration such as `2d`; null when it is not one. */
export function parseDuration(text: string): number | null {
  const m = DURATION_PATTERN.exec(text);
  return m ? Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS] : null;
}

/** Milliseconds in a signed offset such as `-30d`; null when it is not one. */
export function parseOffset(text: string): number | null {
  const m = OFFSET_PATTERN.exec(text);
  if (!m) return null;
  const ms = Number(m[2]) * UNIT_MS[m[3] as keyof typeof UNIT_MS];
  return m[1] === "-" ? -ms : ms;
}

/** Milliseconds in one of a unit (`d` → 86 400 000). */
export function unitMs(unit: DurationUnit): number {
  return UNIT_MS[unit];
}

/** Milliseconds in a duration the schema has already validated. */
export function durationMs(text: string): number {
  const ms = parseDuration(text);
  if (ms === null) throw new Error(`not a duration: ${text}`);
  return ms;
}

/** Milliseconds in an offset the schema has already validated (absent means 0). */
export function offsetMs(text: string | undefined): number {
  if (text === undefined) return 0;
  const ms = parseOffset(text);
  if (ms === null) throw new Error(`not an offset: ${text}`);
  return ms;
}

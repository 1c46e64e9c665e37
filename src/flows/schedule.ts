/**
 * Calendar arithmetic in the contact's time zone, through Intl only: quiet
 * hours, `wait until` a time of day, and date attributes (birthdays, renewal
 * dates) turned into instants. Pure: the caller passes every instant in;
 * nothing here reads the clock. Daylight-saving changes are handled by asking
 * Intl for the zone's offset at the instant in question, never by assuming one.
 */
/** Weekday names as flows write them, Sunday first (the order of Date#getUTCDay). */
export const WEEKDAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"] as const;

/** Zones Intl accepted; only valid names are kept, so the cache is bounded by the zone database. */
const knownZones = new Set<string>();

/** True when `tz` is an IANA time zone name this runtime knows. */
export function isValidTimeZone(tz: string): boolean {
  if (knownZones.has(tz)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
  } catch {
    return false;
  }
  knownZones.add(tz);
  return true;
}

/** `tz` when Intl knows it, else UTC: what a stored zone that slipped past validation is read as. */
function usableTimeZone(tz: string): string {
  return isValidTimeZone(tz) ? tz : "UTC";
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    // Zones are checked at every entry and when a contact is loaded; reading an unknown one as UTC keeps these functions total.
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: usableTimeZone(tz),
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
      weekday: "short",
    });
    formatters.set(tz, f);
  }
  return f;
}

/** A wall-clock reading in some zone. `month` is 1-12; `weekday` 0 (Sunday) to 6. */
export interface LocalTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  weekday: number;
}

/** The wall clock in `tz` at instant `t`. */
export function localTime(t: number, tz: string): LocalTime {
  const parts: Record<string, string> = {};
  for (const p of formatter(tz).formatToParts(new Date(t))) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS.indexOf((parts.weekday ?? "").toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]),
  };
}

/** The zone's offset from UTC at instant `t`, in ms. */
function zoneOffset(t: number, tz: string): number {
  const l = localTime(t, tz);
  return Date.UTC(l.year, l.month - 1, l.day, l.hour, l.minute, l.second) - Math.floor(t / 1000) * 1000;
}

/** The instant at which the wall clock in `tz` reads the given date and time (a skipped time moves past the gap). */
export function zonedInstant(year: number, month: number, day: number, hour: number, minute: number, tz: string): number {
  const wall = Date.UTC(year, month - 1, day, hour, minute);
  const first = wall - zoneOffset(wall, tz);
  const second = wall - zoneOffset(first, tz);
  return Math.max(first, second);
}

function minutesOf(hhmm: string): number {
  const [h, m] = hhmm.split(":").map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

/** The date `days` calendar days after a local date. */
function addDays(l: Pick<LocalTime, "year" | "month" | "day">, days: number) {
  const d = new Date(Date.UTC(l.year, l.month - 1, l.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() };
}

/** The instant of `hhmm` on the local date `days` after the local date of `t`. */
function atLocalTime(t: number, tz: string, days: number, hhmm: string): number {
  const date = addDays(localTime(t, tz), days);
  const minutes = minutesOf(hhmm);
  return zonedInstant(date.year, date.month, date.day, Math.floor(minutes / 60), minutes % 60, tz);
}

/** `t` itself when outside quiet hours, else the instant the quiet hours end (windows may cross midnight). */
export function outsideQuietHours(t: number, quiet: { start: string; end: string }, tz: string): number {
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return t;
  const l = localTime(t, tz);
  const now = l.hour * 60 + l.minute;
  const crossesMidnight = start > end;
  const quietNow = crossesMidnight ? now >= start || now < end : now >= start && now < end;
  if (!quietNow) return t;
  const endsTomorrow = crossesMidnight && now >= start;
  return atLocalTime(t, tz, endsTomorrow ? 1 : 0, quiet.end);
}

/** The first instant at or after `t` when the local time is `time` on one of `weekdays` (any day when absent). */
export function nextTimeOfDay(t: number, time: string, weekdays: readonly string[] | undefined, tz: string): number {
  for (let days = 0; days <= 8; days++) {
    const candidate = atLocalTime(t, tz, days, time);
    if (candidate < t) continue;
    const weekday = WEEKDAYS[localTime(candidate, tz).weekday] as string;
    if (!weekdays || weekdays.includes(weekday)) return candidate;
  }
  return t;
}

/** A calendar date (and time, if it has one) from an attribute value: `YYYY-MM-DD`, an ISO date-time, or epoch ms. */
function readDate(value: unknown): { year: number; month: number; day: number; instant: number | null } | null {
  if (typeof value === "number" && Number.isFinite(value)) {
    const d = new Date(value);
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), instant: value };
  }
  if (typeof value !== "string") return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value.trim());
  if (m) return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), instant: null };
  const parsed = Date.parse(value);
  if (Number.isNaN(parsed)) return null;
  const d = new Date(parsed);
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), instant: parsed };
}

export interface DateRule {
  /** Local time of day on the date; a plain date without it means midnight, a date-time keeps its own time. */
  at?: string;
  /** Added to the result, e.g. -30d. */
  offsetMs: number;
}

/** The instant a date attribute (plus offset, at a local time) points at; null when the value is not a date. */
export function dateAttributeInstant(value: unknown, rule: DateRule, tz: string): number | null {
  const date = readDate(value);
  if (!date) return null;
  if (date.instant !== null && rule.at === undefined) return date.instant + rule.offsetMs;
  const minutes = minutesOf(rule.at ?? "00:00");
  return zonedInstant(date.year, date.month, date.day, Math.floor(minutes / 60), minutes % 60, tz) + rule.offsetMs;
}

/** The first yearly occurrence of a date attribute (birthday) at or after `from`; 29 February falls on 28 February in other years. */
export function nextYearlyInstant(value: unknown, rule: DateRule, tz: string, from: number): number | null {
  const date = readDate(value);
  if (!date) return null;
  const minutes = minutesOf(rule.at ?? "00:00");
  const startYear = localTime(from - rule.offsetMs, tz).year - 1;
  for (let year = startYear; year <= startYear + 2; year++) {
    const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
    const day = date.month === 2 && date.day === 29 && !leap ? 28 : date.day;
    const t = zonedInstant(year, date.month, day, Math.floor(minutes / 60), minutes % 60, tz) + rule.offsetMs;
    if (t >= from) return t;
  }
  return null;
}

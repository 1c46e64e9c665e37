/**
 * Calendar arithmetic in the contact's time zone, through Intl only. Pure: the
 * caller passes every instant in; nothing here reads the clock.
 */

/** True when `tz` is an IANA time zone name this runtime knows. */
export function isValidTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Money as people read it: an amount with its currency (`€42.50`, `$42.50`,
 * `¥4,250`), through Intl so each currency gets its own decimals. Shared by
 * the Liquid `money` filter (emails) and the dashboard.
 */

const formatters = new Map<string, Intl.NumberFormat>();

function formatterFor(currency: string): Intl.NumberFormat | null {
  const code = currency.trim().toUpperCase();
  const cached = formatters.get(code);
  if (cached) return cached;
  try {
    const formatter = new Intl.NumberFormat("en-US", { style: "currency", currency: code });
    formatters.set(code, formatter);
    return formatter;
  } catch {
    // Not an ISO 4217 code: the caller falls back to the bare number.
    return null;
  }
}

/** An amount with its currency; an unknown or missing code gives the number with two decimals and the code after it. */
export function formatMoney(amount: number, currency?: string | null): string {
  const formatter = currency ? formatterFor(currency) : null;
  if (formatter) return formatter.format(amount);
  const plain = amount.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return currency?.trim() ? `${plain} ${currency.trim()}` : plain;
}

/** The Liquid filter `{{ value | money: currency }}`: a number (or numeric text) formatted with its currency; anything else unchanged. */
export function moneyFilter(value: unknown, currency?: unknown): unknown {
  const amount = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
  if (!Number.isFinite(amount)) return value;
  return formatMoney(amount, typeof currency === "string" ? currency : null);
}

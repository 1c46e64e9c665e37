/** How the dashboard writes numbers, rates, money and times (Intl, UTC). */

const counts = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const money = new Intl.NumberFormat("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** 12,345 */
export const formatCount = (n: number) => counts.format(n);
/** 12.3% or — when there is no denominator. */
export const formatRate = (r: number | null) => (r === null ? "—" : `${(r * 100).toFixed(1)}%`);
/** 1,234.50 */
export const formatMoney = (n: number) => money.format(n);
/** 2026-11-02 10:00 UTC */
export const formatTime = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;

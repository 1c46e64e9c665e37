/** How the dashboard writes numbers, rates, money and times (Intl, UTC). */
import { formatMoney } from "../delivery/money";

/** €1,234.50 in the shop's currency (`CURRENCY`). */
export { formatMoney };

const counts = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

/** 12,345 */
export const formatCount = (n: number) => counts.format(n);
/** 12.3% or — when there is no denominator. */
export const formatRate = (r: number | null) => (r === null ? "—" : `${(r * 100).toFixed(1)}%`);
/** 2026-11-02 10:00 UTC */
export const formatTime = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;

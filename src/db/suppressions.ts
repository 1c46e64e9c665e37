/**
 * The suppression list: addresses that get no email at all (hard bounces, complaints, manual entries), and erased
 * people, who are kept only as a keyed hash of their address (SPEC section 9) so that nothing readable remains.
 */
import { and, desc, eq, lt, notLike, or, sql } from "drizzle-orm";
import { hmacKey } from "../tracking/tokens";
import type { Database } from "./client";
import { type SuppressionRow, suppressions } from "./schema";

/** How an erased person's entry is spelled in the `email` column: this prefix and a hex digest, never an address. */
export const ERASED_KEY_PREFIX = "hmac:";

const encoder = new TextEncoder();

/**
 * The key an erased address is suppressed under: HMAC-SHA256 of the normalised address with SIGNING_SECRET. A plain
 * SHA-256 would be reversed by hashing a list of likely addresses; without the secret no such lookup is possible.
 * Rotating SIGNING_SECRET therefore forgets who was erased (README, "Erasing").
 */
export async function erasedAddressKey(secret: string, email: string): Promise<string> {
  const message = encoder.encode(`nurture-erased:${email.trim().toLowerCase()}`);
  const digest = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), message));
  return ERASED_KEY_PREFIX + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Suppresses an address; an existing entry keeps its first reason and date. */
export async function suppress(db: Database, email: string, reason: SuppressionRow["reason"], detail: string | null, now: number) {
  await db.insert(suppressions).values({ email: email.toLowerCase(), reason, detail, createdAt: now }).onConflictDoNothing();
}

/** Suppresses addresses by hand in one statement; returns those that were not suppressed before. */
export async function suppressManually(db: Database, emails: string[], detail: string | null, now: number): Promise<string[]> {
  const added = await db.all<{ email: string }>(sql`INSERT INTO suppressions (email, reason, detail, created_at)
    SELECT DISTINCT value, 'manual', ${detail}, ${now} FROM json_each(${JSON.stringify(emails)}) WHERE true
    ON CONFLICT(email) DO NOTHING
    RETURNING email`);
  return added.map((r) => r.email);
}

/**
 * The statement that turns an address's suppression into its erased key, to run in the erase's batch before the
 * address's own row is deleted: it keeps a bounce or complaint reason (else `erased`) and drops the detail, which
 * may quote the address.
 */
export function keepErasedKey(db: Database, email: string, erasedKey: string, now: number) {
  return db
    .insert(suppressions)
    .values({
      email: erasedKey,
      reason: sql`coalesce((SELECT reason FROM suppressions WHERE email = ${email}), 'erased')`,
      detail: null,
      createdAt: now,
    })
    .onConflictDoUpdate({
      target: suppressions.email,
      set: { reason: sql`CASE WHEN ${suppressions.reason} = 'erased' THEN excluded.reason ELSE ${suppressions.reason} END` },
    });
}

/** Whether this address was erased (its keyed hash is on the list). */
export async function isErasedAddress(db: Database, secret: string, email: string): Promise<boolean> {
  const key = await erasedAddressKey(secret, email);
  return !!(await db.select({ email: suppressions.email }).from(suppressions).where(eq(suppressions.email, key)).get());
}

/** Lifts an erased person's key once they have opted in again themselves (a confirmed double opt-in). */
export async function clearErasedKey(db: Database, secret: string, email: string): Promise<void> {
  await db.delete(suppressions).where(eq(suppressions.email, await erasedAddressKey(secret, email)));
}

/** One page of the list of addresses, newest first, after a `(createdAt, email)` cursor; erased keys are not addresses and are left out. */
export async function suppressionPage(
  db: Database,
  limit: number,
  after?: { createdAt: number; email: string },
): Promise<SuppressionRow[]> {
  const cursor = after
    ? or(lt(suppressions.createdAt, after.createdAt), and(eq(suppressions.createdAt, after.createdAt), lt(suppressions.email, after.email)))
    : sql`1`;
  return db
    .select()
    .from(suppressions)
    .where(and(cursor, notLike(suppressions.email, `${ERASED_KEY_PREFIX}%`)))
    .orderBy(desc(suppressions.createdAt), desc(suppressions.email))
    .limit(limit);
}

/** Lifts a suppression deliberately, the address's erased key included; false when the address was not suppressed. */
export async function liftSuppression(db: Database, secret: string, email: string): Promise<boolean> {
  const keys = [email.toLowerCase(), await erasedAddressKey(secret, email)];
  const lifted = await db
    .delete(suppressions)
    .where(sql`${suppressions.email} IN (SELECT value FROM json_each(${JSON.stringify(keys)}))`)
    .returning({ email: suppressions.email });
  return lifted.length > 0;
}

/** Whether this address is on the suppression list (by hand, bounce or complaint). */
export async function isSuppressed(db: Database, email: string): Promise<boolean> {
  const row = await db.select({ email: suppressions.email }).from(suppressions).where(eq(suppressions.email, email.toLowerCase())).get();
  return row !== undefined;
}

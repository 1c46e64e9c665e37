/**
 * Which contact a browser's anonymous id belongs to (the site snippet's `identities` table). Only
 * http/collect.ts ties an id to a contact, and only on proof; these helpers do the writing.
 */
import { sql } from "drizzle-orm";
import type { Database } from "./client";

/** Whether a contact with this id still exists (an erased one does not). */
export async function contactExists(db: Database, contactId: string): Promise<boolean> {
  const [known] = await db.all<{ id: string }>(sql`SELECT id FROM contacts WHERE id = ${contactId}`);
  return known !== undefined;
}

/** Ties the anonymous id to the contact (replacing an earlier tie) and gives the visitor's anonymous events to them. */
export async function linkAnonymousVisitor(db: Database, anonymousId: string, contactId: string, now: number): Promise<void> {
  await db.run(sql`INSERT INTO identities (anonymous_id, contact_id, created_at) VALUES (${anonymousId}, ${contactId}, ${now})
    ON CONFLICT(anonymous_id) DO UPDATE SET contact_id = excluded.contact_id`);
  await db.run(sql`UPDATE events SET contact_id = ${contactId} WHERE anonymous_id = ${anonymousId} AND contact_id IS NULL`);
}

/** The contact an anonymous id is tied to, or null. */
export async function contactOfAnonymousId(db: Database, anonymousId: string): Promise<string | null> {
  const [known] = await db.all<{ contact_id: string }>(sql`SELECT contact_id FROM identities WHERE anonymous_id = ${anonymousId}`);
  return known?.contact_id ?? null;
}

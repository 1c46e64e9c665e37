/** The svix ids of provider webhooks already handled, so that each is applied once (Resend retries). */
import { sql } from "drizzle-orm";
import type { Database } from "./client";

/** Records the receipt; false when this svix id was received before. */
export async function claimWebhookReceipt(db: Database, svixId: string, now: number): Promise<boolean> {
  const [fresh] = await db.all<{ svix_id: string }>(
    sql`INSERT INTO webhook_receipts (svix_id, received_at) VALUES (${svixId}, ${now}) ON CONFLICT DO NOTHING RETURNING svix_id`,
  );
  return fresh !== undefined;
}

/** Forgets a receipt whose handling failed, so that the provider's retry is handled. */
export async function forgetWebhookReceipt(db: Database, svixId: string): Promise<void> {
  await db.run(sql`DELETE FROM webhook_receipts WHERE svix_id = ${svixId}`);
}

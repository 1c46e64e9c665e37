/** Queries for the connectors (src/connect): each platform's last delivery, and contacts by a platform's customer id. */
import { sql } from "drizzle-orm";
import type { Database } from "./client";
import { type ConnectorDeliveryRow, type ContactRow, connectorDeliveries, contacts } from "./schema";

/** Keeps the platform's latest delivery (one row per platform, overwritten). */
export async function recordConnectorDelivery(db: Database, row: ConnectorDeliveryRow): Promise<void> {
  const { platform, ...rest } = row;
  await db.insert(connectorDeliveries).values(row).onConflictDoUpdate({ target: connectorDeliveries.platform, set: rest });
}

/** Every platform's latest delivery, by platform. */
export async function lastConnectorDeliveries(db: Database): Promise<Map<string, ConnectorDeliveryRow>> {
  const rows = await db.select().from(connectorDeliveries);
  return new Map(rows.map((r) => [r.platform, r]));
}

/** The contact an invoice tied to this Stripe customer id (the `stripe_customer_id` attribute), if any. */
export async function findContactByStripeCustomer(db: Database, customerId: string): Promise<ContactRow | undefined> {
  return db.select().from(contacts).where(sql`json_extract(${contacts.attributes}, '$.stripe_customer_id') = ${customerId}`).limit(1).get();
}

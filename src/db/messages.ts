/**
 * Reading the outbox for the API, writing test messages, and applying what the provider reports about a sent
 * message (delivered, bounced, complained). The delivery path's own state changes (claims, leases, batches) live
 * in outbox.ts.
 */
import { and, desc, eq, lt, or, type SQL, sql } from "drizzle-orm";
import type { Database } from "./client";
import { links, type MessageRow, type MessageStatus, messages, type NewMessageRow } from "./schema";

/** What `GET /v1/messages` filters on; `after` is the last row of the previous page. */
export interface MessageFilter {
  contactId?: string;
  flowId?: string;
  status?: MessageStatus;
  after?: { createdAt: number; id: string };
}

/** Up to `limit` messages matching the filter, newest first (ties by id, so the cursor is stable). */
export function messagePage(db: Database, filter: MessageFilter, limit: number): Promise<MessageRow[]> {
  const where: SQL[] = [];
  if (filter.contactId) where.push(eq(messages.contactId, filter.contactId));
  if (filter.flowId) where.push(eq(messages.flowId, filter.flowId));
  if (filter.status) where.push(eq(messages.status, filter.status));
  const after = filter.after;
  if (after)
    where.push(or(lt(messages.createdAt, after.createdAt), and(eq(messages.createdAt, after.createdAt), lt(messages.id, after.id)))!);
  return db
    .select()
    .from(messages)
    .where(and(...where))
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(limit);
}

/** A rendered email's links, in their order in the email. */
export interface MessageLinks {
  messageId: string;
  urls: readonly string[];
}

/**
 * The statement that stores a message's links, however many: the URLs go in as one JSON parameter, each at its
 * position in the email (a link already stored stays as it is).
 */
export function insertLinks(db: Database, { messageId, urls }: MessageLinks) {
  return db
    .insert(links)
    .select(sql`SELECT ${messageId}, key, value FROM json_each(${JSON.stringify(urls)}) WHERE true`)
    .onConflictDoNothing();
}

/** Stores messages and their links in one batch: a statement per message, and one per message's links. */
export async function insertMessagesWithLinks(db: Database, rows: NewMessageRow[], linksOf: MessageLinks[]): Promise<void> {
  const inserts = [
    ...rows.map((r) => db.insert(messages).values(r)),
    ...linksOf.filter((l) => l.urls.length > 0).map((l) => insertLinks(db, l)),
  ];
  if (inserts.length > 0) await db.batch(inserts as [(typeof inserts)[number], ...typeof inserts]);
}

/** The fields of a message that a provider event needs. */
export type ProviderTrackedMessage = Pick<MessageRow, "id" | "contactId" | "toEmail" | "flowId" | "stepId" | "variant">;

/** The message the provider knows by `providerId`, if any. */
export async function findMessageByProviderId(db: Database, providerId: string): Promise<ProviderTrackedMessage | undefined> {
  const [row] = await db.all<ProviderTrackedMessage>(sql`SELECT id, contact_id AS contactId, to_email AS toEmail, flow_id AS flowId,
    step_id AS stepId, variant FROM messages WHERE provider_id = ${providerId}`);
  return row;
}

/** Marks the message delivered at `at`; the first report wins. */
export async function markDelivered(db: Database, messageId: string, at: number): Promise<void> {
  await db.run(sql`UPDATE messages SET delivered_at = coalesce(delivered_at, ${at}) WHERE id = ${messageId}`);
}

/** Marks the message bounced at `at` (the first report wins), with the bounce's type as its reason. */
export async function markBounced(db: Database, messageId: string, at: number, bounceType: string): Promise<void> {
  await db.run(sql`UPDATE messages SET bounced_at = coalesce(bounced_at, ${at}), reason = ${`bounced: ${bounceType}`}
    WHERE id = ${messageId}`);
}

/** Marks the message complained about at `at`; the first report wins. */
export async function markComplained(db: Database, messageId: string, at: number): Promise<void> {
  await db.run(sql`UPDATE messages SET complained_at = coalesce(complained_at, ${at}) WHERE id = ${messageId}`);
}

/** The position of `url` among the message's links, or -1 when the message has no such link. */
export async function linkIndex(db: Database, messageId: string, url: string): Promise<number> {
  const [link] = await db.all<{ idx: number }>(sql`SELECT idx FROM links WHERE message_id = ${messageId} AND url = ${url}`);
  return link?.idx ?? -1;
}

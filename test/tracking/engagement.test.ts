import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type Engagement, recordEngagements } from "../../src/tracking/engagement";
import { contactId } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";
import { BROWSER } from "../helpers/tracking";

/** Inserts `count` marketing messages sent an hour ago to one contact, in one statement; returns their ids. */
async function sentMessages(contact: string, count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `msg_burst_${i}`);
  const sentAt = Date.now() - 3_600_000;
  await env.DB.prepare(
    `INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, status, due_at, sent_at, created_at)
     SELECT value, ?, 'burst@example.com', 'marketing', 'news', 'mail', 'sent', ?, ?, ? FROM json_each(?)`,
  )
    .bind(contact, sentAt, sentAt, sentAt, JSON.stringify(ids))
    .run();
  return ids;
}

describe("a batch of engagements is recorded in statements that stay within D1's limits", () => {
  it("opens of 150 messages in one batch are all recorded", async () => {
    const contact = await contactId("burst@example.com");
    const ids = await sentMessages(contact, 150);
    const now = Date.now();
    const opens: Engagement[] = ids.map((messageId) => ({ kind: "open", messageId, userAgent: BROWSER["user-agent"], at: now }));

    await recordEngagements(pipelineFor(env), opens, now);

    const opened = await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE contact_id = ? AND opened_at IS NOT NULL")
      .bind(contact)
      .first("n");
    expect(opened).toBe(150);
    const events = await env.DB.prepare(
      "SELECT count(DISTINCT message_id) AS n FROM events WHERE contact_id = ? AND name = 'email_opened' AND machine = 0",
    )
      .bind(contact)
      .first("n");
    expect(events).toBe(150);
  });

  it("clicks on 150 messages in one batch are all recorded, each against its link", async () => {
    const contact = await contactId("burst@example.com");
    const ids = await sentMessages(contact, 150);
    const now = Date.now();
    const clicks: Engagement[] = ids.map((messageId) => ({
      kind: "click",
      messageId,
      index: 0,
      url: "https://shop.test/sale",
      request: { method: "GET", userAgent: BROWSER["user-agent"] },
      at: now,
    }));

    await recordEngagements(pipelineFor(env), clicks, now);

    const clicked = await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE contact_id = ? AND clicked_at IS NOT NULL")
      .bind(contact)
      .first("n");
    expect(clicked).toBe(150);
  });
});

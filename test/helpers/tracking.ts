/** Sets up a sent, tracked email for tracking tests, and waits for what the Worker records off the response path. */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { call } from "./dashboard";
import { activeFlow, contactId, track } from "./flows";

/** Polls until `check` passes (recording happens after the response, in `waitUntil`). */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value)) return value;
    if (Date.now() > deadline) throw new Error(`still ${JSON.stringify(value)} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A contact who got one marketing email with two links, sent an hour ago; returns ids and the email's tokens. */
export async function sentEmail(extraSteps: unknown[] = []) {
  await env.DB.prepare("INSERT OR REPLACE INTO templates (id, subject, html, created_at, updated_at) VALUES ('news', 'News', ?, 0, 0)")
    .bind('<body><a href="https://shop.test/sale?utm_campaign=winter">Sale</a> <a href="https://shop.test/new">New</a></body>')
    .run();
  await activeFlow({
    id: "news",
    name: "News",
    trigger: { event: "subscribed" },
    steps: [{ id: "mail", type: "email", template: "news" }, ...extraSteps],
  });
  const contact = await contactId("reader@example.com", { first_name: "Rea" });
  await track({ contact_id: contact, name: "subscribed" });
  const message = (await env.DB.prepare("SELECT id, html FROM messages WHERE contact_id = ?")
    .bind(contact)
    .first<{ id: string; html: string }>())!;
  await env.DB.prepare("UPDATE messages SET sent_at = ? WHERE id = ?")
    .bind(Date.now() - 3_600_000, message.id)
    .run();
  const clicks = [...message.html.matchAll(/href="https:\/\/nurture\.test\/c\/([^"]+)"/g)].map((m) => m[1]!);
  const open = /src="https:\/\/nurture\.test\/o\/([^"]+)"/.exec(message.html)![1]!;
  const unsubscribe = /href="https:\/\/nurture\.test\/u\/([^"]+)"/.exec(message.html)![1]!;
  expect(clicks).toHaveLength(2);
  return { contact, messageId: message.id, clicks, open, unsubscribe };
}

/** A browser's request headers. */
export const BROWSER = {
  "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
};

/** GET (or HEAD) a public URL of the Worker without following redirects. */
export function visit(path: string, headers: Record<string, string> = BROWSER, method = "GET") {
  return call(path, { auth: false, headers, method });
}

/** Events of a name recorded for a contact. */
export async function eventsNamed(contact: string, name: string) {
  return (
    await env.DB.prepare("SELECT name, machine, properties, message_id FROM events WHERE contact_id = ? AND name = ? ORDER BY rowid")
      .bind(contact, name)
      .all<{ machine: number; properties: string; message_id: string }>()
  ).results;
}

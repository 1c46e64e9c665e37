/**
 * Opens and clicks go through the TRACKING queue: recorded once however often Queues delivers them, never lost
 * while D1 fails, and kept as dead letters (shown and sent back from the dashboard) when they fail for good.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { newEventId } from "../../src/contact/changes";
import { retryDelaySeconds, TRACKING_DEAD_LETTER_QUEUE, TRACKING_QUEUE } from "../../src/tracking/consumer";
import { signToken } from "../../src/tracking/tokens";
import wranglerToml from "../../wrangler.toml?raw";
import { csrfOf, login, page, post } from "../helpers/dashboard";
import { deliver, drainTracking, flakyDatabase, MAX_RETRIES, queued } from "../helpers/queue";
import { BROWSER, eventually, visit } from "../helpers/tracking";

const HOUR = 3_600_000;

/** `contacts` subscribed contacts with `perContact` marketing messages each, sent an hour ago; returns the message ids. */
async function sentMessages(prefix: string, contacts: number, perContact: number): Promise<string[]> {
  const now = Date.now();
  const people = Array.from({ length: contacts }, (_, i) => ({ id: `c_${prefix}_${i}`, email: `${prefix}${i}@example.com` }));
  await env.DB.prepare(
    `INSERT INTO contacts (id, email, consent, consent_changed_at, unopened_streak, created_at, updated_at)
     SELECT value ->> '$.id', value ->> '$.email', 'subscribed', ?1, 3, ?1, ?1 FROM json_each(?2)`,
  )
    .bind(now, JSON.stringify(people))
    .run();
  const messages = people.flatMap((p) =>
    Array.from({ length: perContact }, (_, j) => ({ id: `msg_${prefix}_${p.id}_${j}`, contact: p.id, email: p.email })),
  );
  await env.DB.prepare(
    `INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, status, due_at, sent_at, created_at)
     SELECT value ->> '$.id', value ->> '$.contact', value ->> '$.email', 'marketing', 'news', 'mail', 'sent', ?1, ?1, ?1
     FROM json_each(?2)`,
  )
    .bind(now - HOUR, JSON.stringify(messages))
    .run();
  return messages.map((m) => m.id);
}

/** A person's open of each message, then their click on its first link a second later. */
function opensAndClicks(messageIds: string[]) {
  const at = Date.now() - 60_000;
  return messageIds.flatMap((messageId) => [
    { kind: "open", id: newEventId(), messageId, userAgent: BROWSER["user-agent"], at },
    {
      kind: "click",
      id: newEventId(),
      messageId,
      index: 0,
      url: "https://shop.test/sale",
      request: { method: "GET", userAgent: BROWSER["user-agent"] },
      at: at + 1000,
    },
  ]);
}

async function first<T>(query: string, ...params: unknown[]): Promise<T> {
  return (await env.DB.prepare(query)
    .bind(...params)
    .first<T>())!;
}

/** What was recorded for messages whose ids start with `prefix`: events by name, and how many of them are distinct. */
async function recorded(prefix: string) {
  const like = `msg_${prefix}_%`;
  return {
    opens: await first<{ n: number; ids: number; messages: number }>(
      "SELECT count(*) AS n, count(DISTINCT id) AS ids, count(DISTINCT message_id) AS messages FROM events WHERE name = 'email_opened' AND message_id LIKE ?",
      like,
    ),
    clicks: await first<{ n: number; ids: number; messages: number }>(
      "SELECT count(*) AS n, count(DISTINCT id) AS ids, count(DISTINCT message_id) AS messages FROM events WHERE name = 'email_clicked' AND message_id LIKE ?",
      like,
    ),
    machine: await first<{ n: number }>("SELECT count(*) AS n FROM events WHERE machine = 1 AND message_id LIKE ?", like),
    openedMessages: await first<{ n: number }>(
      "SELECT count(*) AS n FROM messages WHERE id LIKE ? AND opened_at IS NOT NULL AND clicked_at IS NOT NULL",
      like,
    ),
    engagedContacts: await first<{ n: number }>(
      "SELECT count(*) AS n FROM contacts WHERE id LIKE ? AND last_opened_at IS NOT NULL AND last_clicked_at IS NOT NULL AND unopened_streak = 0",
      `c_${prefix}_%`,
    ),
  };
}

/** The news flow's rolled-up unique opens and clicks (every test's messages belong to flow 'news'). */
async function rollups() {
  return first<{ opens: number; clicks: number }>(
    "SELECT coalesce(sum(unique_opens), 0) AS opens, coalesce(sum(unique_clicks), 0) AS clicks FROM stats_daily WHERE flow_id = 'news'",
  );
}

describe("opens and clicks through the tracking queue", () => {
  it("wrangler.toml declares the queue the consumer reads, its dead-letter queue and that queue's consumer", () => {
    expect(wranglerToml).toContain(`binding = "TRACKING"\nqueue = "${TRACKING_QUEUE}"`);
    expect(wranglerToml).toContain(`dead_letter_queue = "${TRACKING_DEAD_LETTER_QUEUE}"`);
    expect(wranglerToml).toContain(`[[queues.consumers]]\nqueue = "${TRACKING_DEAD_LETTER_QUEUE}"`);
    expect(wranglerToml).toContain(`max_retries = ${MAX_RETRIES}\n`);
  });

  it("with D1 writes failing for the first three deliveries, every open and click of a 360-message burst is recorded exactly once", async () => {
    const messageIds = await sentMessages("fault", 60, 3);
    const messages = queued(opensAndClicks(messageIds));
    expect(messages).toHaveLength(360);
    let down = true;
    const bindings = { ...env, DB: flakyDatabase(() => down) };

    const rounds = await drainTracking(messages, bindings, (round) => {
      down = round <= 3;
    });

    // Three rounds where every message failed and was retried, with a growing delay; then all recorded.
    expect(rounds.map((r) => r.acked.length)).toEqual([0, 0, 0, 360]);
    expect(rounds.slice(0, 3).map((r) => r.retried.length)).toEqual([360, 360, 360]);
    expect(rounds.slice(0, 3).map((r) => new Set(r.retried.map((x) => x.delaySeconds)))).toEqual([
      new Set([retryDelaySeconds(1)]),
      new Set([retryDelaySeconds(2)]),
      new Set([retryDelaySeconds(3)]),
    ]);
    expect(retryDelaySeconds(1)).toBeLessThan(retryDelaySeconds(3));
    const once = {
      opens: { n: 180, ids: 180, messages: 180 },
      clicks: { n: 180, ids: 180, messages: 180 },
      machine: { n: 0 },
      openedMessages: { n: 180 },
      engagedContacts: { n: 60 },
    };
    expect(await recorded("fault")).toEqual(once);
    expect(await rollups()).toEqual({ opens: 180, clicks: 180 });

    // Queues delivers at least once: the whole burst again, as first deliveries and as late retries, changes nothing.
    await drainTracking(messages, bindings);
    await drainTracking(
      messages.map((m) => ({ ...m, attempts: 5 })),
      bindings,
    );
    expect(await recorded("fault")).toEqual(once);
    expect(await rollups()).toEqual({ opens: 180, clicks: 180 });
  });

  it("a delivery that fails halfway (the updates written, the events not) is recorded once when retried", async () => {
    const messageIds = await sentMessages("half", 20, 5);
    const messages = queued(opensAndClicks(messageIds));
    let round = 0;
    // The first two rounds lose every INSERT INTO events after the message and contact updates went through.
    const bindings = { ...env, DB: flakyDatabase((sql) => round <= 2 && /^\s*insert into events\b/i.test(sql)) };
    const rounds = await drainTracking(messages, bindings, (r) => {
      round = r;
    });
    expect(rounds.map((r) => r.acked.length)).toEqual([0, 0, 200]);
    expect(await recorded("half")).toEqual({
      opens: { n: 100, ids: 100, messages: 100 },
      clicks: { n: 100, ids: 100, messages: 100 },
      machine: { n: 0 },
      openedMessages: { n: 100 },
      engagedContacts: { n: 20 },
    });
    expect(await rollups()).toEqual({ opens: 100, clicks: 100 });
  });

  it("a message that always fails does not take the others with it: they are recorded, it becomes a dead letter, shown and sent back from the dashboard", async () => {
    const messageIds = await sentMessages("poison", 10, 5);
    const bodies = opensAndClicks(messageIds).filter((b) => b.kind === "open");
    const poison = bodies[17]!;
    const messages = queued(bodies);
    // Any write recording the poison message fails, every time (keeping it as a dead letter works).
    const bindings = {
      ...env,
      DB: flakyDatabase((sql, params) => !sql.includes("tracking_dead_letters") && JSON.stringify(params).includes(poison.messageId)),
    };

    const rounds = await drainTracking(messages, bindings);

    const acked = rounds.flatMap((r) => r.acked);
    expect(acked).toHaveLength(49);
    expect(acked.map((m) => (m.body as { messageId: string }).messageId)).not.toContain(poison.messageId);
    // Each retry halves the group the poison is in: everyone else is through long before its retries run out.
    const lastInnocentRound = rounds.findLastIndex((r) => r.acked.length > 0) + 1;
    expect(lastInnocentRound).toBeLessThanOrEqual(8);
    expect(rounds).toHaveLength(MAX_RETRIES + 1);
    expect((await recorded("poison")).opens).toEqual({ n: 49, ids: 49, messages: 49 });
    const dead = await env.DB.prepare("SELECT id, body, reason FROM tracking_dead_letters").all<{
      id: string;
      body: string;
      reason: string;
    }>();
    expect(dead.results).toEqual([{ id: messages[17]!.id, body: JSON.stringify(poison), reason: "retries ran out" }]);
    // The dead-letter queue delivers at least once too: a second delivery keeps it once.
    await deliver(TRACKING_DEAD_LETTER_QUEUE, [messages[17]!]);
    expect((await env.DB.prepare("SELECT count(*) AS n FROM tracking_dead_letters").first("n")) as number).toBe(1);

    // The Health section shows it; sending it back (the cause gone: the real D1) records it through the real queue.
    const cookie = await login();
    const overview = await page("/admin", cookie);
    expect(overview.html).toMatch(/data-stat="dead-letters" data-value="1"/);
    expect(overview.html).toContain(`<code>${poison.messageId}</code>`);
    const res = await post("/admin/health/dead-letters/retry", cookie, { _csrf: csrfOf(overview.html) });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin?resent=1#health");
    expect((await env.DB.prepare("SELECT count(*) AS n FROM tracking_dead_letters").first("n")) as number).toBe(0);
    await eventually(
      () => recorded("poison"),
      (r) => r.opens.n === 50,
    );
    const after = await page("/admin?resent=1", cookie);
    expect(after.html).toContain("Sent 1 back to the tracking queue.");
    expect(after.html).toMatch(/data-stat="dead-letters" data-value="0"/);
    expect((await recorded("poison")).opens).toEqual({ n: 50, ids: 50, messages: 50 });
  });

  it("the retry action needs the session's CSRF token", async () => {
    const cookie = await login();
    const res = await post("/admin/health/dead-letters/retry", cookie, { _csrf: "forged" });
    expect(res.status).toBe(403);
  });

  it("a body that is not an open or a click is kept as a dead letter at once, and the rest of its batch is recorded", async () => {
    const [messageId] = await sentMessages("bad", 1, 1);
    const good = opensAndClicks([messageId!]);
    const messages = queued([{ kind: "open", messageId: "msg_x" }, ...good]);
    const delivered = await deliver(TRACKING_QUEUE, messages);
    expect(delivered.retried).toEqual([]);
    expect(delivered.acked).toHaveLength(3);
    const dead = await env.DB.prepare("SELECT id, reason FROM tracking_dead_letters").all<{ id: string; reason: string }>();
    expect(dead.results).toHaveLength(1);
    expect(dead.results[0]!.id).toBe(messages[0]!.id);
    expect(dead.results[0]!.reason).toMatch(/^not an open or a click/);
    expect((await recorded("bad")).openedMessages).toEqual({ n: 1 });
  });

  it("a batch from a queue the Worker does not know is refused, not recorded", async () => {
    const [messageId] = await sentMessages("unknown", 1, 1);
    const delivered = await deliver("some-other-queue", queued(opensAndClicks([messageId!])));
    expect(delivered.acked).toEqual([]);
    expect(delivered.retried).toHaveLength(2);
    expect((await recorded("unknown")).opens.n).toBe(0);
  });

  it("150 pixels fetched at once all reach the consumer through the real local queue and are recorded once each", async () => {
    const messageIds = await sentMessages("burst", 30, 5);
    const tokens = await Promise.all(messageIds.map((id) => signToken(env.SIGNING_SECRET!, "open", [id])));
    const responses = await Promise.all(tokens.map((token) => visit(`/o/${token}`)));
    expect(responses.every((r) => r.status === 200 && r.headers.get("content-type") === "image/gif")).toBe(true);
    const result = await eventually(
      () => recorded("burst"),
      (r) => r.opens.n >= 150,
      15_000,
    );
    expect(result.opens).toEqual({ n: 150, ids: 150, messages: 150 });
    expect(await rollups()).toEqual({ opens: 150, clicks: 0 });
  });
});

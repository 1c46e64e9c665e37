import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openDatabase } from "../../src/db/client";
import { recoverExpiredLeases } from "../../src/db/outbox";
import { type MessageKind, messages, type NewMessageRow } from "../../src/db/schema";
import { MAX_ATTEMPTS } from "../../src/delivery/sender";
import { deliverDue, deliverNow } from "../../src/pipeline/pipeline";
import { readClickToken } from "../../src/tracking/links";
import { activeFlow, contactId, createTemplates, enrollmentsOf, timerOf } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";
import { acceptAll, fakeResend, providerEnv } from "../helpers/resend";
import { visit } from "../helpers/tracking";

afterEach(() => {
  vi.restoreAllMocks();
});

const db = () => openDatabase(env.DB);

async function queue(count: number, fields: Partial<NewMessageRow> & { to?: string } = {}): Promise<string[]> {
  const to = fields.to ?? "ada@example.com";
  const contact = fields.contactId === undefined ? await contactId(to) : fields.contactId;
  await createTemplates("t1");
  const now = Date.now();
  const rows: NewMessageRow[] = Array.from({ length: count }, (_, i) => ({
    id: `msg_${fields.kind ?? "m"}_${i}_${crypto.randomUUID().slice(0, 6)}`,
    contactId: contact,
    toEmail: to,
    kind: "marketing" as MessageKind,
    flowId: "welcome",
    stepId: "hello",
    templateId: "t1",
    status: "queued",
    dueAt: now - 1000 + i,
    createdAt: now,
    ...fields,
  }));
  for (let i = 0; i < rows.length; i += 5)
    await db()
      .insert(messages)
      .values(rows.slice(i, i + 5));
  return rows.map((r) => r.id as string);
}

async function statuses(): Promise<Record<string, number>> {
  const { results } = await env.DB.prepare("SELECT status, count(*) AS n FROM messages GROUP BY status").all<{
    status: string;
    n: number;
  }>();
  return Object.fromEntries(results.map((r) => [r.status, r.n]));
}

async function row(id: string) {
  return env.DB.prepare("SELECT * FROM messages WHERE id = ?").bind(id).first<Record<string, any>>();
}

describe("a due batch is rendered and sent through the Resend batch endpoint", () => {
  it("sends each email once with tracking, unsubscribe headers and tags, and records the send", async () => {
    const requests = fakeResend();
    const id = await contactId("ada@example.com", { first_name: "Ada" });
    const [messageId] = await queue(1, { contactId: id });
    await env.DB.prepare("UPDATE templates SET html = ? WHERE id = 't1'")
      .bind('<html><body><p>Hi {{ contact.first_name }}</p><a href="https://shop.test/new">New</a></body></html>')
      .run();

    const report = await deliverDue(pipelineFor(providerEnv()));

    expect(report).toMatchObject({ sent: 1, failed: 0 });
    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request?.url).toBe("https://resend.fake/emails/batch");
    expect(request?.headers.authorization).toBe("Bearer re_test_key");
    expect(request?.headers["x-batch-validation"]).toBe("permissive");
    const sent = await row(messageId!);
    expect(request?.headers["idempotency-key"]).toBe(sent?.batch_id);
    const email = request!.emails[0]!;
    expect(email.to).toEqual(["ada@example.com"]);
    expect(email.html).toContain("<p>Hi Ada</p>");
    expect(email.html).not.toContain('href="https://shop.test/new"');
    const click = /href="https:\/\/nurture\.test\/c\/([^"]+)"/.exec(email.html)?.[1];
    expect(await readClickToken(env.SIGNING_SECRET!, click!)).toEqual({
      messageId,
      index: 0,
      contactId: id,
      flowId: "welcome",
      stepId: "hello",
      url: "https://shop.test/new",
    });
    expect(email.html).toMatch(/<img src="https:\/\/nurture\.test\/o\/[^"]+" width="1" height="1"[^>]*>\s*<\/body>/);
    expect(email.html).toContain(">Unsubscribe</a>");
    expect(email.headers?.["List-Unsubscribe"]).toMatch(/^<https:\/\/nurture\.test\/u\/.+>$/);
    expect(email.headers?.["List-Unsubscribe-Post"]).toBe("List-Unsubscribe=One-Click");
    expect(email.tags).toEqual(
      expect.arrayContaining([
        { name: "flow", value: "welcome" },
        { name: "step", value: "hello" },
        { name: "message", value: messageId },
      ]),
    );
    expect(email.text).toContain("Hi Ada");

    expect(sent).toMatchObject({ status: "sent", attempts: 1, reason: null });
    expect(sent?.provider_id).toMatch(/^re_/);
    expect(sent?.html).toBe(email.html);
    const links = await env.DB.prepare("SELECT idx, url FROM links WHERE message_id = ?").bind(messageId).all();
    expect(links.results).toEqual([{ idx: 0, url: "https://shop.test/new" }]);
    const event = await env.DB.prepare("SELECT name, message_id, properties FROM events WHERE contact_id = ? AND name = 'email_sent'")
      .bind(id)
      .first<{ message_id: string; properties: string }>();
    expect(event?.message_id).toBe(messageId);
    expect(JSON.parse(event!.properties)).toMatchObject({ flow_id: "welcome", step_id: "hello" });
    const contact = await env.DB.prepare("SELECT unopened_streak FROM contacts WHERE id = ?").bind(id).first<{ unopened_streak: number }>();
    expect(contact?.unopened_streak).toBe(1);
  });

  it("hands email_sent to a contact's flows only when one can react: a running enrollment or a flow starting on it", async () => {
    fakeResend();
    const idle = await contactId("idle@example.com");
    const running = await contactId("running@example.com");
    await env.DB.prepare(
      "INSERT INTO enrollments (id, contact_id, flow_id, flow_version, status, current_step, entered_at) VALUES ('enr_run', ?, 'welcome', 1, 'active', 'hello', 0)",
    )
      .bind(running)
      .run();
    await queue(1, { contactId: idle, to: "idle@example.com" });
    await queue(1, { contactId: running, to: "running@example.com" });
    await deliverDue(pipelineFor(providerEnv()));
    const received = async (id: string) => (await timerOf(id).receivedEvents()).map((e) => e.name);
    expect(await received(idle)).toEqual([]);
    expect(await received(running)).toEqual(["email_sent"]);

    await createTemplates("t-followup");
    await activeFlow({
      id: "on-sent",
      name: "On sent",
      trigger: { event: "email_sent" },
      steps: [{ id: "s", type: "email", template: "t-followup" }],
    });
    await queue(1, { contactId: idle, to: "idle@example.com" });
    await deliverDue(pipelineFor(providerEnv()));
    // The send, then the follow-up that the flow it started sent at once.
    expect(await received(idle)).toEqual(["email_sent", "email_sent"]);
    expect(await enrollmentsOf(idle)).toMatchObject([{ flow_id: "on-sent" }]);
  });

  it("sends at most 100 emails per request", async () => {
    const requests = fakeResend();
    await queue(150);
    const report = await deliverDue(pipelineFor(providerEnv({ SEND_RATE_PER_SECOND: "100" })));
    expect(report.sent).toBe(150);
    expect(requests.map((r) => r.emails.length)).toEqual([100, 50]);
    expect(new Set(requests.map((r) => r.headers["idempotency-key"])).size).toBe(2);
    expect(await statuses()).toEqual({ sent: 150 });
  });

  it("spaces requests to stay under SEND_RATE_PER_SECOND, across runs that overlap", async () => {
    const requests = fakeResend();
    await queue(500);
    const limited = providerEnv({ SEND_RATE_PER_SECOND: "4" });
    await Promise.all([deliverDue(pipelineFor(limited)), deliverDue(pipelineFor(limited))]);
    expect(requests).toHaveLength(5);
    // Never 5 requests within one rolling second (the first 4 may go at once).
    expect(requests[4]!.at - requests[0]!.at).toBeGreaterThanOrEqual(1000);
  });

  it("stops claiming when the run's time budget is spent and leaves the rest queued", async () => {
    fakeResend(async (request) => {
      await new Promise((r) => setTimeout(r, 150));
      return acceptAll(request, 0);
    });
    await queue(300);
    const report = await deliverDue(pipelineFor(providerEnv({ SEND_RATE_PER_SECOND: "100" })), { budgetMs: 100 });
    // One batch may already be prepared while the previous one is sending when the budget runs out.
    expect(report.sent).toBeGreaterThanOrEqual(100);
    expect(report.sent).toBeLessThanOrEqual(200);
    expect(await statuses()).toEqual({ sent: report.sent, queued: 300 - report.sent });
  });
});

describe("retries reuse the batch's idempotency key", () => {
  it("returns the batch to the queue on a 5xx with backoff, then resends exactly the same request with the same key", async () => {
    const requests = fakeResend((request, i) =>
      i === 0 ? Response.json({ name: "internal_server_error", message: "boom" }, { status: 500 }) : acceptAll(request, i),
    );
    const ids = await queue(3);
    const before = Date.now();
    const first = await deliverDue(pipelineFor(providerEnv()));
    expect(first).toMatchObject({ sent: 0, retried: 3 });
    const waiting = await row(ids[0]!);
    expect(waiting).toMatchObject({ status: "queued", attempts: 1 });
    expect(waiting?.reason).toContain("500");
    expect(waiting?.due_at).toBeGreaterThanOrEqual(before + 15_000);
    expect(waiting?.due_at).toBeLessThanOrEqual(Date.now() + 30_000);

    await deliverDue(pipelineFor(providerEnv()));
    expect(requests).toHaveLength(1); // not due yet

    await env.DB.prepare("UPDATE messages SET due_at = ?")
      .bind(Date.now() - 1)
      .run();
    const second = await deliverDue(pipelineFor(providerEnv()));
    expect(second.sent).toBe(3);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers["idempotency-key"]).toBe(requests[0]!.headers["idempotency-key"]);
    expect(requests[1]!.emails).toEqual(requests[0]!.emails);
    expect(await row(ids[0]!)).toMatchObject({ status: "sent", attempts: 2 });
  });

  it("honours Retry-After on a 429", async () => {
    fakeResend(() => Response.json({ name: "rate_limit_exceeded" }, { status: 429, headers: { "retry-after": "120" } }));
    const [id] = await queue(1);
    const before = Date.now();
    await deliverDue(pipelineFor(providerEnv()));
    expect((await row(id!))?.due_at).toBeGreaterThanOrEqual(before + 120_000);
  });

  it("waits out a 429 with a short Retry-After and sends the same batch again in the run, with the same key", async () => {
    const requests = fakeResend((request, i) =>
      i === 0 ? Response.json({ name: "rate_limit_exceeded" }, { status: 429, headers: { "retry-after": "1" } }) : acceptAll(request, i),
    );
    const ids = await queue(3);
    const report = await deliverDue(pipelineFor(providerEnv()));
    expect(report).toMatchObject({ sent: 3, retried: 0 });
    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers["idempotency-key"]).toBe(requests[0]!.headers["idempotency-key"]);
    expect(requests[1]!.emails).toEqual(requests[0]!.emails);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(await row(ids[0]!)).toMatchObject({ status: "sent", attempts: 1 });
    expect(requests.accepted).toHaveLength(3);
  });

  it("retries a timeout or network failure like a 5xx", async () => {
    fakeResend(() => {
      throw new TypeError("Network connection lost");
    });
    const [id] = await queue(1);
    expect((await deliverDue(pipelineFor(providerEnv()))).retried).toBe(1);
    expect(await row(id!)).toMatchObject({ status: "queued", attempts: 1 });
  });

  it("retries 409 concurrent_idempotent_requests later with the same key", async () => {
    const requests = fakeResend((request, i) =>
      i === 0 ? Response.json({ name: "concurrent_idempotent_requests" }, { status: 409 }) : acceptAll(request, i),
    );
    const [id] = await queue(1);
    await deliverDue(pipelineFor(providerEnv()));
    expect(await row(id!)).toMatchObject({ status: "queued" });
    await env.DB.prepare("UPDATE messages SET due_at = ?")
      .bind(Date.now() - 1)
      .run();
    await deliverDue(pipelineFor(providerEnv()));
    expect(requests[1]!.headers["idempotency-key"]).toBe(requests[0]!.headers["idempotency-key"]);
    expect(await row(id!)).toMatchObject({ status: "sent" });
  });

  it(`fails a message for good after ${MAX_ATTEMPTS} attempts`, async () => {
    fakeResend(() => new Response("bad gateway", { status: 502 }));
    const [id] = await queue(1);
    await env.DB.prepare("UPDATE messages SET attempts = ?")
      .bind(MAX_ATTEMPTS - 1)
      .run();
    await deliverDue(pipelineFor(providerEnv()));
    const failed = await row(id!);
    expect(failed?.status).toBe("failed");
    expect(failed?.reason).toContain(`gave up after ${MAX_ATTEMPTS} attempts`);
  });

  it("recovers a batch whose lease expired mid-send and resends it with its original key", async () => {
    const requests = fakeResend();
    const [id] = await queue(1);
    await env.DB.prepare("UPDATE messages SET status = 'sending', batch_id = 'bat_crashed', lease_until = ?")
      .bind(Date.now() - 1)
      .run();
    const report = await deliverDue(pipelineFor(providerEnv()));
    expect(report).toMatchObject({ recovered: 1, sent: 1 });
    expect(requests[0]!.headers["idempotency-key"]).toBe("bat_crashed");
    expect(await row(id!)).toMatchObject({ status: "sent", batch_id: "bat_crashed" });
  });

  it("leaves a row whose lease is still running to the run that holds it", async () => {
    const requests = fakeResend();
    await queue(1);
    await env.DB.prepare("UPDATE messages SET status = 'sending', batch_id = 'bat_busy', lease_until = ?")
      .bind(Date.now() + 60_000)
      .run();
    await deliverDue(pipelineFor(providerEnv()));
    expect(requests).toHaveLength(0);
    expect(await statuses()).toEqual({ sending: 1 });
  });
});

describe("failures that are final", () => {
  it("fails the batch's messages with the provider's reason on another 4xx", async () => {
    fakeResend(() => Response.json({ name: "validation_error", message: "Invalid `from` field." }, { status: 422 }));
    const [id] = await queue(1);
    await deliverDue(pipelineFor(providerEnv()));
    const failed = await row(id!);
    expect(failed?.status).toBe("failed");
    expect(failed?.reason).toBe("422 validation_error: Invalid `from` field.");
  });

  it("fails only the emails a permissive batch rejected", async () => {
    fakeResend(() => Response.json({ data: [{ id: "re_a" }, { id: "re_c" }], errors: [{ index: 1, message: "Invalid `to` field." }] }));
    const ids = await queue(3);
    await deliverDue(pipelineFor(providerEnv()));
    expect(await row(ids[0]!)).toMatchObject({ status: "sent", provider_id: "re_a" });
    expect(await row(ids[1]!)).toMatchObject({ status: "failed", reason: "Invalid `to` field." });
    expect(await row(ids[2]!)).toMatchObject({ status: "sent", provider_id: "re_c" });
  });

  it("fails a message whose template was deleted, and sends the others", async () => {
    const requests = fakeResend();
    const [gone] = await queue(1, { templateId: "deleted" });
    await queue(1);
    await deliverDue(pipelineFor(providerEnv()));
    expect(await row(gone!)).toMatchObject({ status: "failed", reason: "template deleted does not exist" });
    expect(requests.flatMap((r) => r.emails)).toHaveLength(1);
  });
});

describe("consent and suppression are checked again at send time", () => {
  it("suppresses marketing to a contact who unsubscribed after it was queued", async () => {
    const requests = fakeResend();
    const [id] = await queue(1);
    await env.DB.prepare("UPDATE contacts SET consent = 'unsubscribed'").run();
    await deliverDue(pipelineFor(providerEnv()));
    expect(requests).toHaveLength(0);
    expect(await row(id!)).toMatchObject({ status: "suppressed", reason: "consent: unsubscribed" });
  });

  it("sends transactional mail regardless of marketing consent, but never to a suppressed address", async () => {
    const requests = fakeResend();
    const [receipt] = await queue(1, { kind: "transactional" });
    await env.DB.prepare("UPDATE contacts SET consent = 'unsubscribed'").run();
    await deliverDue(pipelineFor(providerEnv()));
    expect(await row(receipt!)).toMatchObject({ status: "sent" });
    expect(requests[0]!.emails[0]!.headers?.["List-Unsubscribe"]).toBeUndefined();

    const [bounced] = await queue(1, { kind: "transactional", to: "gone@example.com" });
    await env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES ('gone@example.com', 'hard_bounce', 0)").run();
    await deliverDue(pipelineFor(providerEnv()));
    expect(await row(bounced!)).toMatchObject({ status: "suppressed", reason: "suppressed: hard_bounce" });
    expect(requests).toHaveLength(1);
  });
});

describe("exactly once", () => {
  it("with 30% of calls failing (some after accepting) and two runs overlapping, each of 500 messages is accepted once and ends sent or failed", async () => {
    // Three calls in ten fail, in turn: a lost response (the emails were accepted), a 500, a 429.
    const fake = fakeResend(async (request, i) => {
      await new Promise((r) => setTimeout(r, 5));
      if (i % 10 === 0) return "lost";
      if (i % 10 === 3) return Response.json({ name: "internal_server_error" }, { status: 500 });
      if (i % 10 === 6) return Response.json({ name: "rate_limit_exceeded" }, { status: 429 });
      return acceptAll(request, i);
    });
    await queue(500);
    const run = () => deliverDue(pipelineFor(providerEnv({ SEND_RATE_PER_SECOND: "1000" })));
    for (let round = 0; round < 30; round++) {
      await Promise.all([run(), run()]);
      const pending = (await statuses()).queued ?? 0;
      if (pending === 0) break;
      // Retries wait with backoff; bring them due again for the next round.
      await env.DB.prepare("UPDATE messages SET due_at = ? WHERE status = 'queued'")
        .bind(Date.now() - 1)
        .run();
    }
    const tags = fake.accepted.map((e) => e.tags.find((t) => t.name === "message")?.value);
    expect(tags).toHaveLength(500);
    expect(new Set(tags).size).toBe(500);
    const final = await statuses();
    expect(Object.keys(final).every((s) => s === "sent" || s === "failed")).toBe(true);
    expect(final.sent).toBe(500);
    expect(fake.length).toBeGreaterThanOrEqual(7); // 5 batches, and the failed calls were retried
  }, 120_000);
});

describe("overlapping runs", () => {
  it("never send the same message twice", async () => {
    const requests = fakeResend(async (request, i) => {
      await new Promise((r) => setTimeout(r, 50));
      return acceptAll(request, i);
    });
    await queue(250);
    await Promise.all([
      deliverDue(pipelineFor(providerEnv({ SEND_RATE_PER_SECOND: "100" }))),
      deliverDue(pipelineFor(providerEnv({ SEND_RATE_PER_SECOND: "100" }))),
      deliverNow(
        pipelineFor(providerEnv()),
        (await env.DB.prepare("SELECT id FROM messages").all<{ id: string }>()).results.map((r) => r.id),
      ),
    ]);
    const tags = requests.flatMap((r) => r.emails.map((e) => e.tags.find((t) => t.name === "message")?.value));
    expect(tags).toHaveLength(250);
    expect(new Set(tags).size).toBe(250);
    expect(await statuses()).toEqual({ sent: 250 });
  });
});

describe("without RESEND_API_KEY", () => {
  it("keeps the rendered email in the dev mailbox and marks it sent, calling no provider", async () => {
    const fetchSpy = vi.spyOn(globalThis, "fetch");
    const [id] = await queue(1);
    const report = await deliverDue(pipelineFor(env));
    expect(report.sent).toBe(1);
    expect(fetchSpy).not.toHaveBeenCalled();
    const stored = await row(id!);
    expect(stored).toMatchObject({ status: "sent", provider_id: `dev_${id}` });
    expect(stored?.html).toContain("/o/");
    expect(JSON.parse(stored?.headers)).toMatchObject({ "List-Unsubscribe-Post": "List-Unsubscribe=One-Click" });
  });
});

describe("every statement stays within D1's limits, whatever the email's size", () => {
  it("an email with 60 links is sent and every link redirects", async () => {
    const requests = fakeResend();
    const [id] = await queue(1);
    const anchors = Array.from({ length: 60 }, (_, i) => `<a href="https://shop.test/p/${i}">Product ${i}</a>`).join(" ");
    await env.DB.prepare("UPDATE templates SET html = ? WHERE id = 't1'").bind(`<html><body>${anchors}</body></html>`).run();

    await deliverDue(pipelineFor(providerEnv()));

    expect(await row(id!)).toMatchObject({ status: "sent" });
    const tokens = [...requests[0]!.emails[0]!.html.matchAll(/href="https:\/\/nurture\.test\/c\/([^"]+)"/g)].map((m) => m[1]!);
    expect(tokens).toHaveLength(60);
    for (const [i, token] of tokens.entries()) {
      const res = await visit(`/c/${token}`);
      expect(res.status).toBe(302);
      const location = new URL(res.headers.get("location")!);
      expect(`${location.origin}${location.pathname}`).toBe(`https://shop.test/p/${i}`);
    }
    expect(await env.DB.prepare("SELECT count(*) AS n FROM links WHERE message_id = ?").bind(id).first("n")).toBe(60);
  });

  it("a rendered message of 750 KB is stored (its bodies bound as parameters, not statement text) and sent", async () => {
    const requests = fakeResend();
    const [id] = await queue(1);
    await env.DB.prepare("UPDATE templates SET html = ?, text = 'short' WHERE id = 't1'")
      .bind("<html><body>{% for i in (1..20000) %}<p>lorem ipsum dolor sit amet {{ i }}</p>{% endfor %}</body></html>")
      .run();

    await deliverDue(pipelineFor(providerEnv()));

    const sent = await row(id!);
    expect(sent).toMatchObject({ status: "sent" });
    expect(sent?.html.length).toBeGreaterThan(700_000);
    expect(requests[0]!.emails[0]!.html).toBe(sent?.html);
  });

  it("a rendered message over 2 MB fails as too_large and the rest of its batch is sent", async () => {
    const requests = fakeResend();
    const ids = await queue(3);
    const [huge] = await queue(1, { templateId: "huge" });
    // 60,000 paragraphs of 40 bytes: 2.4 MB of html from a small template; its own text part skips the conversion.
    await env.DB.prepare(
      "INSERT INTO templates (id, subject, html, text, created_at, updated_at) VALUES ('huge', 'Huge', ?, 'short', 0, 0)",
    )
      .bind("<html><body>{% for i in (1..60000) %}<p>lorem ipsum dolor sit amet {{ i }}</p>{% endfor %}</body></html>")
      .run();

    const report = await deliverDue(pipelineFor(providerEnv()));

    expect(report).toMatchObject({ sent: 3, failed: 1 });
    const failed = await row(huge!);
    expect(failed).toMatchObject({ status: "failed", html: null });
    expect(failed?.reason).toMatch(/^too_large/);
    for (const id of ids) expect(await row(id)).toMatchObject({ status: "sent" });
    expect(requests.flatMap((r) => r.emails)).toHaveLength(3);
  });
});

describe("no message stays sending", () => {
  it("a message to an invalid address fails on the first try, and the others are sent", async () => {
    const requests = fakeResend();
    const [good] = await queue(1);
    const [bad] = await queue(1, { kind: "notify", contactId: null, to: "not an address" });
    await deliverDue(pipelineFor(providerEnv()));
    expect(await row(bad!)).toMatchObject({ status: "failed", attempts: 1, reason: "invalid recipient address" });
    expect(await row(good!)).toMatchObject({ status: "sent" });
    expect(requests.flatMap((r) => r.emails.map((e) => e.to[0]))).toEqual(["ada@example.com"]);
  });

  it("a template that cannot render fails its message alone, on the first try", async () => {
    const requests = fakeResend();
    const [good] = await queue(1);
    const [broken] = await queue(1, { templateId: "broken" });
    await env.DB.prepare("INSERT INTO templates (id, subject, html, created_at, updated_at) VALUES ('broken', 'Broken', ?, 0, 0)")
      .bind("<p>{% if %}</p>")
      .run();
    await deliverDue(pipelineFor(providerEnv()));
    const failed = await row(broken!);
    expect(failed).toMatchObject({ status: "failed", attempts: 1 });
    expect(failed?.reason).toMatch(/^render: /);
    expect(await row(good!)).toMatchObject({ status: "sent" });
    expect(requests.flatMap((r) => r.emails)).toHaveLength(1);
  });

  it("a message whose lease expired 3 times fails as stuck", async () => {
    const requests = fakeResend();
    const [id] = await queue(1);
    const crash = () =>
      env.DB.prepare("UPDATE messages SET status = 'sending', batch_id = 'bat_crashing', lease_until = ? WHERE id = ?")
        .bind(Date.now() - 1, id)
        .run();
    for (let expiry = 1; expiry <= 3; expiry++) {
      await crash();
      expect(await recoverExpiredLeases(db(), Date.now())).toEqual(expiry < 3 ? { recovered: 1, stuck: 0 } : { recovered: 0, stuck: 1 });
      expect(await row(id!)).toMatchObject({ attempts: expiry, status: expiry < 3 ? "queued" : "failed", lease_until: null });
    }
    expect((await row(id!))?.reason).toMatch(/^stuck/);
    await deliverDue(pipelineFor(providerEnv()));
    expect(requests).toHaveLength(0);
  });

  it("a batch rejected whole by the provider fails only the bad email", async () => {
    const requests = fakeResend((request) =>
      request.emails.some((e) => e.to[0] === "blocked@example.com")
        ? Response.json({ statusCode: 422, name: "validation_error", message: "The `to` address is blocked." }, { status: 422 })
        : acceptAll(request, 0),
    );
    const good = [...(await queue(2)), ...(await queue(1, { to: "grace@example.com" }))];
    const [bad] = await queue(1, { to: "blocked@example.com" });

    const report = await deliverDue(pipelineFor(providerEnv({ SEND_RATE_PER_SECOND: "100" })));

    expect(report).toMatchObject({ sent: 3, failed: 1 });
    for (const id of good) expect(await row(id)).toMatchObject({ status: "sent" });
    expect(await row(bad!)).toMatchObject({ status: "failed", reason: "422 validation_error: The `to` address is blocked." });
    // The whole batch once, then each member alone under its own message id.
    expect(requests[0]!.emails).toHaveLength(4);
    const singles = requests.slice(1);
    expect(singles.map((r) => r.emails.length)).toEqual([1, 1, 1, 1]);
    expect(singles.map((r) => r.headers["idempotency-key"]).sort()).toEqual([...good, bad!].sort());
    expect(requests.accepted.map((e) => e.to[0]).sort()).toEqual(["ada@example.com", "ada@example.com", "grace@example.com"]);
  });

  it("a retried batch that lost a member never sends an accepted member twice", async () => {
    // The first attempt is accepted but its answer is lost; the retry finds one member cancelled meanwhile.
    const requests = fakeResend((_, index) => (index === 0 ? "lost" : acceptAll(_, index)));
    const ids = [
      ...(await queue(1, { to: "ada@example.com" })),
      ...(await queue(1, { to: "grace@example.com" })),
      ...(await queue(1, { to: "linus@example.com" })),
    ];
    expect(await deliverDue(pipelineFor(providerEnv()))).toMatchObject({ retried: 3 });
    await env.DB.prepare("UPDATE messages SET status = 'cancelled', reason = 'exited' WHERE id = ?").bind(ids[1]).run();
    await env.DB.prepare("UPDATE messages SET due_at = 0 WHERE status = 'queued'").run();

    await deliverDue(pipelineFor(providerEnv()));

    expect(requests).toHaveLength(2);
    expect(requests[1]!.headers["idempotency-key"]).toBe(requests[0]!.headers["idempotency-key"]);
    const accepted = requests.accepted.map((e) => e.to[0]);
    expect(accepted.sort()).toEqual(["ada@example.com", "grace@example.com", "linus@example.com"]);
    expect(await row(ids[0]!)).toMatchObject({ status: "sent" });
    expect(await row(ids[2]!)).toMatchObject({ status: "sent" });
    expect(await row(ids[1]!)).toMatchObject({ status: "cancelled" });
  });
});

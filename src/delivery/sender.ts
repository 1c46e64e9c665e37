/**
 * Delivery: claims due messages, re-checks consent and suppression, renders,
 * and sends them through Resend in batches whose persisted id is the
 * `Idempotency-Key`, so a retried batch can never send twice. The cron runs
 * it every minute; `deliverMessagesNow` runs the same code for messages due
 * now, so a first welcome email leaves within seconds. Both yield the
 * `email_sent` events of what they sent and record nothing themselves: the
 * pipeline (src/pipeline) hands them to the flows. Without
 * RESEND_API_KEY the rendered email is kept in the dev mailbox instead.
 * No message stays `sending`: a failure that will not change (too large, an
 * invalid address, a render error, a missing template) fails it at once, a
 * message D1 refuses to store fails alone, a batch the provider refuses
 * whole is split into single sends so that only the culprit fails, and a
 * batch is never re-keyed once it may have been accepted.
 */
import { eq, sql } from "drizzle-orm";
import { z } from "zod";
import type { Database } from "../db/client";
import type { EventInsert } from "../db/events";
import { insertLinks } from "../db/messages";
import {
  claimNewBatch,
  claimRetryBatch,
  closeBatch,
  countBatchAttempt,
  holdSendGate,
  MAX_RENDERED_BYTES,
  openSingleBatch,
  recoverExpiredLeases,
  settle,
  settleSent,
  utf8Bytes,
} from "../db/outbox";
import { type ContactRow, contacts, type MessageRow, messages, suppressions, type TemplateRow, templates } from "../db/schema";
import { ERASED_KEY_PREFIX, erasedAddressKey } from "../db/suppressions";
import type { Config } from "../env";
import { type RenderedEmail, renderMessage, resendTags } from "./render";
import { BATCH_LIMIT, type BatchOutcome, sendBatch } from "./resend";
import { awaitSendSlot, holdFromDispatch } from "./send-gate";

/**
 * A cron run stops claiming after this long (well inside the 15-minute wall-clock limit of a cron invocation).
 * It is longer than the minute between runs on purpose: consecutive runs overlap, share the send gate, and so
 * keep sending at the full rate with no idle gap between them.
 */
const RUN_BUDGET_MS = 70_000;
/** Attempts before a message that keeps meeting 429/5xx/timeouts is failed for good. */
export const MAX_ATTEMPTS = 8;
const BACKOFF_BASE_MS = 30_000;
const BACKOFF_MAX_MS = 60 * 60_000;
/**
 * A 429 asking to come back within this long is waited out in the run and the same batch (same key) sent once
 * more; a longer Retry-After, or a second 429, puts the batch back in the queue with backoff.
 */
const RATE_LIMIT_WAIT_IN_RUN_MS = 5_000;
/** Resend's window: what a 429 without Retry-After waits before the batch is tried again in the run. */
const RATE_LIMIT_DEFAULT_WAIT_MS = 1_000;

export interface DeliveryReport {
  sent: number;
  failed: number;
  suppressed: number;
  retried: number;
  recovered: number;
}

/**
 * The cron job: recovers expired leases, then sends due batches until the run's time or the queue is exhausted.
 * Yields each sent batch's `email_sent` events as it goes (recording them is the caller's part, and may run
 * while the next batch is sent); returns the run's report.
 */
export async function* deliverDueMessages(
  db: Database,
  config: Config,
  { budgetMs = RUN_BUDGET_MS }: { budgetMs?: number } = {},
): AsyncGenerator<EventInsert[], DeliveryReport> {
  const started = Date.now();
  const { recovered, stuck } = await recoverExpiredLeases(db, started);
  const report: DeliveryReport = { sent: 0, failed: stuck, suppressed: 0, retried: 0, recovered };
  // A two-stage pipeline: the next batch is claimed and rendered while the previous one waits for its turn and is sent.
  const sending = new SendQueue(db, config, report);
  while (Date.now() - started < budgetMs) {
    const now = Date.now();
    let claimed = await claimRetryBatch(db, now);
    if (claimed.length === 0) claimed = await claimNewBatch(db, now, newBatchId(), BATCH_LIMIT);
    if (claimed.length === 0) {
      // The batch still being sent may put members back for now (a refused batch is sent again one by one).
      const drained = await sending.drain();
      yield* sending.takeSent();
      if (drained) continue;
      break;
    }
    await sending.push(await prepareBatch(db, config, claimed));
    yield* sending.takeSent();
  }
  await sending.finish();
  yield* sending.takeSent();
  return report;
}

/** Sends prepared batches one after another while the caller prepares the next; collects the reports and what was sent. */
class SendQueue {
  private sending: Promise<void> = Promise.resolve();
  private inFlight = false;
  private readonly sent: EventInsert[][] = [];

  constructor(
    private readonly db: Database,
    private readonly config: Config,
    private readonly report: DeliveryReport,
  ) {}

  /** Waits for the previous batch's send, then starts this one's. */
  async push(batch: PreparedBatch): Promise<void> {
    await this.sending;
    this.inFlight = true;
    this.sending = sendPrepared(this.db, this.config, batch).then(({ report, sent }) => {
      add(this.report, report);
      if (sent.length > 0) this.sent.push(sent);
    });
  }

  /** Waits for the batch being sent, if any; true when there was one. */
  async drain(): Promise<boolean> {
    if (!this.inFlight) return false;
    await this.sending;
    this.inFlight = false;
    return true;
  }

  /** Waits for the last send. */
  async finish(): Promise<void> {
    await this.sending;
  }

  /** The `email_sent` events of the batches sent since the last call. */
  takeSent(): EventInsert[][] {
    return this.sent.splice(0);
  }
}

/**
 * Sends these messages now if they are queued and due, through the same claim and batch code as the cron;
 * yields each sent batch's `email_sent` events and returns the report.
 */
export async function* deliverMessagesNow(db: Database, config: Config, ids: string[]): AsyncGenerator<EventInsert[], DeliveryReport> {
  const report: DeliveryReport = { sent: 0, failed: 0, suppressed: 0, retried: 0, recovered: 0 };
  const sending = new SendQueue(db, config, report);
  for (let i = 0; i < ids.length; i += BATCH_LIMIT) {
    const claimed = await claimNewBatch(db, Date.now(), newBatchId(), BATCH_LIMIT, ids.slice(i, i + BATCH_LIMIT));
    if (claimed.length > 0) await sending.push(await prepareBatch(db, config, claimed));
    yield* sending.takeSent();
  }
  await sending.finish();
  yield* sending.takeSent();
  return report;
}

function newBatchId(): string {
  return `bat_${crypto.randomUUID().replaceAll("-", "")}`;
}

function add(total: DeliveryReport, part: DeliveryReport): void {
  total.sent += part.sent;
  total.failed += part.failed;
  total.suppressed += part.suppressed;
  total.retried += part.retried;
}

/** Exponential backoff with jitter: 30 s, 1 min, 2 min… up to an hour, each between half and all of that. */
export function backoffMs(attempts: number, retryAfterMs: number | null): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.max(0, attempts - 1));
  return Math.max(retryAfterMs ?? 0, Math.round(ceiling / 2 + Math.random() * (ceiling / 2)));
}

/** Why a message may not go out now, checked at send time; null when it may. */
function gate(row: MessageRow, contact: ContactRow | undefined, suppressed: Map<string, string>): string | null {
  const suppression = suppressed.get(row.toEmail.toLowerCase());
  // An erased person may opt in again themselves (SPEC section 9): their confirmation mail alone passes the erased key.
  if (suppression && !(suppression === "erased" && row.kind === "confirmation")) return `suppressed: ${suppression}`;
  if (row.kind !== "marketing") return null;
  if (!contact) return "contact no longer exists";
  return contact.consent === "subscribed" ? null : `consent: ${contact.consent}`;
}

const REPLY_TO = "Reply-To";

/** The email as rendered and stored at its first attempt (`headers` set marks it): a retry sends exactly the same request. */
function storedEmail(row: MessageRow): RenderedEmail {
  const { [REPLY_TO]: replyTo, ...headers } = row.headers ?? {};
  return {
    from: row.fromEmail ?? "",
    to: row.toEmail,
    replyTo: replyTo ?? null,
    subject: row.subject ?? "",
    html: row.html ?? "",
    text: row.text ?? "",
    headers,
    tags: resendTags(row),
    links: [],
  };
}

/** The message columns that keep a rendered email; `storedEmail` reads them back. */
export function renderedColumns(email: RenderedEmail) {
  const headers = email.replyTo ? { ...email.headers, [REPLY_TO]: email.replyTo } : email.headers;
  return { subject: email.subject, fromEmail: email.from, html: email.html, text: email.text, headers };
}

/**
 * The statements that keep a rendered email. The bodies are bound as parameters (the statement text stays
 * small), and the links go in as one JSON parameter, however many the email has.
 */
function storeRendered(db: Database, row: MessageRow, email: RenderedEmail) {
  return [
    db.update(messages).set(renderedColumns(email)).where(eq(messages.id, row.id)),
    ...(email.links.length ? [insertLinks(db, { messageId: row.id, urls: email.links })] : []),
  ];
}

/** What a recipient address must look like for the provider to take it; anything else would fail on every attempt. */
const RecipientAddress = z.email().max(254);

/** Why a rendered email can never be sent as it is (an invalid address, `too_large`), or null. */
export function unsendable(email: RenderedEmail): string | null {
  if (!RecipientAddress.safeParse(email.to).success) return "invalid recipient address";
  const bytes = utf8Bytes(email.subject) + utf8Bytes(email.html) + utf8Bytes(email.text);
  if (bytes > MAX_RENDERED_BYTES)
    return `too_large: the rendered subject, html and text take ${bytes} bytes, over the ${MAX_RENDERED_BYTES}-byte cap`;
  return null;
}

/** The contacts, templates and suppressions (by address or erased key, keyed by address) a batch's gate and render read. */
async function loadFacts(db: Database, secret: string, rows: MessageRow[]) {
  const contactIds = [...new Set(rows.map((r) => r.contactId).filter((id): id is string => id !== null))];
  const addresses = [...new Set(rows.map((r) => r.toEmail.toLowerCase()))];
  const addressOfKey = new Map(addresses.map((email) => [email, email]));
  for (const email of addresses) addressOfKey.set(await erasedAddressKey(secret, email), email);
  const emails = [...addressOfKey.keys()];
  const templateIds = [
    ...new Set(
      rows
        .filter((r) => r.html === null)
        .map((r) => r.templateId)
        .filter((id): id is string => id !== null),
    ),
  ];
  const [contactRows, suppressionRows, templateRows] = await Promise.all([
    contactIds.length
      ? db
          .select()
          .from(contacts)
          .where(sql`${contacts.id} IN (SELECT value FROM json_each(${JSON.stringify(contactIds)}))`)
      : [],
    db
      .select({ email: suppressions.email, reason: suppressions.reason })
      .from(suppressions)
      .where(sql`${suppressions.email} IN (SELECT value FROM json_each(${JSON.stringify(emails)}))`),
    templateIds.length
      ? db
          .select()
          .from(templates)
          .where(sql`${templates.id} IN (SELECT value FROM json_each(${JSON.stringify(templateIds)}))`)
      : [],
  ]);
  return {
    contacts: new Map(contactRows.map((c) => [c.id, c])),
    // Erased keys first, so that an address's own entry (set after it was re-created) wins: it decides the reason.
    suppressed: new Map(
      [
        ...suppressionRows.filter((s) => s.email.startsWith(ERASED_KEY_PREFIX)),
        ...suppressionRows.filter((s) => !s.email.startsWith(ERASED_KEY_PREFIX)),
      ].map((s) => [addressOfKey.get(s.email) ?? s.email, s.reason]),
    ),
    templates: new Map<string, TemplateRow>(templateRows.map((t) => [t.id, t])),
  };
}

/** A claimed batch, gated and rendered, ready for the provider. */
interface PreparedBatch {
  batchId: string;
  ready: { row: MessageRow; email: RenderedEmail }[];
  report: DeliveryReport;
}

/** A message's writes, applied together; `ready` says whether the message goes on to the provider after them. */
interface MessageWrites {
  id: string;
  statements: ReturnType<typeof storeRendered>;
  ready: boolean;
}

/** Gates and renders (once) a claimed batch, storing what will be sent; a message that cannot go never holds back the rest. */
async function prepareBatch(db: Database, config: Config, claimed: MessageRow[]): Promise<PreparedBatch> {
  const report: DeliveryReport = { sent: 0, failed: 0, suppressed: 0, retried: 0, recovered: 0 };
  const batchId = claimed[0]!.batchId!;
  const facts = await loadFacts(db, config.SIGNING_SECRET, claimed);
  const ready: { row: MessageRow; email: RenderedEmail }[] = [];
  const writes: MessageWrites[] = [];
  const fail = (row: MessageRow, reason: string) => {
    writes.push({ id: row.id, statements: [settle(db, [row.id], { status: "failed", attempts: row.attempts + 1, reason })], ready: false });
    report.failed++;
  };
  for (const row of claimed) {
    const contact = row.contactId ? facts.contacts.get(row.contactId) : undefined;
    const blocked = gate(row, contact, facts.suppressed);
    if (blocked) {
      writes.push({ id: row.id, statements: [settle(db, [row.id], { status: "suppressed", reason: blocked })], ready: false });
      report.suppressed++;
      continue;
    }
    if (row.headers !== null) {
      ready.push({ row, email: storedEmail(row) });
      continue;
    }
    const template = row.templateId ? facts.templates.get(row.templateId) : undefined;
    if (row.templateId && !template) {
      fail(row, `template ${row.templateId} does not exist`);
      continue;
    }
    let email: RenderedEmail;
    try {
      // A subject stored before rendering overrides the template's: a broadcast's A/B subject variant.
      const source = template && row.subject !== null ? { ...template, subject: row.subject } : (template ?? null);
      email = await renderMessage(row, source, contact ?? null, config);
    } catch (error) {
      fail(row, `render: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const reason = unsendable(email);
    if (reason) {
      fail(row, reason);
      continue;
    }
    ready.push({ row, email });
    writes.push({ id: row.id, statements: storeRendered(db, row, email), ready: true });
  }
  const refused = await applyWrites(db, writes);
  report.failed += refused.size;
  return { batchId, ready: ready.filter((r) => !refused.has(r.row.id)), report };
}

/**
 * Applies every message's writes in one round trip. Should D1 refuse that (a limit no check foresaw), each
 * message's writes are applied alone and a message whose writes are refused fails by itself; returns the
 * ids of the messages that were to be sent but could not be stored.
 */
async function applyWrites(db: Database, writes: MessageWrites[]): Promise<Set<string>> {
  const refused = new Set<string>();
  const all = writes.flatMap((w) => w.statements);
  if (all.length === 0) return refused;
  try {
    await db.batch(all as [(typeof all)[number], ...typeof all]);
    return refused;
  } catch {
    for (const w of writes) {
      try {
        await db.batch(w.statements as [(typeof w.statements)[number], ...typeof w.statements]);
      } catch (error) {
        const reason = `store: ${error instanceof Error ? error.message : String(error)}`.slice(0, 500);
        await settle(db, [w.id], { status: "failed", reason });
        if (w.ready) refused.add(w.id);
      }
    }
    return refused;
  }
}

/**
 * Sends a prepared batch in its turn and settles its rows; returns the report and the `email_sent` events of
 * what went out, for the caller to record.
 */
async function sendPrepared(
  db: Database,
  config: Config,
  { batchId, ready, report }: PreparedBatch,
): Promise<{ report: DeliveryReport; sent: EventInsert[] }> {
  const none: EventInsert[] = [];
  if (ready.length === 0) {
    await closeBatch(db, batchId, Date.now());
    return { report, sent: none };
  }
  const outcome = await sendThroughGate(db, config, batchId, ready);
  const ids = ready.map((r) => r.row.id);
  const now = Date.now();
  if (outcome.kind === "retry") {
    const attempts = Math.max(...ready.map((r) => r.row.attempts)) + 1;
    if (attempts >= MAX_ATTEMPTS) {
      await db.batch([
        settle(db, ids, { status: "failed", attempts, reason: `gave up after ${attempts} attempts: ${outcome.reason}` }),
        closeBatch(db, batchId, now),
      ]);
      report.failed += ids.length;
      return { report, sent: none };
    }
    // The batch keeps its key: it may have been accepted, and a new key would have the provider send it again.
    const retry = { status: "queued" as const, attempts, reason: outcome.reason, dueAt: now + backoffMs(attempts, outcome.retryAfterMs) };
    await db.batch([settle(db, ids, retry), countBatchAttempt(db, batchId, now)]);
    report.retried += ids.length;
    return { report, sent: none };
  }
  if (outcome.kind === "accepted_before") {
    // An earlier attempt of this batch went through (the provider holds its key with another payload: members
    // left the batch since). Each member still here was in it, so it was sent then; sending it again is the
    // one thing not to do. The provider's ids came in the answer that was lost.
    const rows = ready.map((r) => r.row);
    await db.batch([
      settle(db, ids, {
        status: "sent",
        attempts: rows[0]!.attempts + 1,
        sentAt: now,
        reason: `accepted by an earlier attempt: ${outcome.reason}`,
      }),
      closeBatch(db, batchId, now),
      ...countUnopened(db, rows),
    ]);
    report.sent += rows.length;
    return { report, sent: sentEvents(rows, now) };
  }
  if (outcome.kind === "failed") {
    if (outcome.splittable && ready.length > 1) {
      // The provider refused the request for its content, which one email can cause: each member is sent
      // alone, keyed by its own message id, so that only the culprit fails. Refused whole, the batch was not
      // accepted, so no member can be sent twice.
      const reason = `sent alone after its batch was refused: ${outcome.reason}`;
      await db.batch([
        closeBatch(db, batchId, now),
        ...ready.map(({ row }) => openSingleBatch(db, row.id, now)),
        ...ready.map(({ row }) => settle(db, [row.id], { status: "queued", batchId: row.id, dueAt: now, reason })),
      ]);
      report.retried += ready.length;
      return { report, sent: none };
    }
    await db.batch([
      settle(db, ids, { status: "failed", attempts: ready[0]!.row.attempts + 1, reason: outcome.reason }),
      closeBatch(db, batchId, now),
    ]);
    report.failed += ids.length;
    return { report, sent: none };
  }
  const sent: MessageRow[] = [];
  const providerIds: { id: string; providerId: string }[] = [];
  const refusals = outcome.results.flatMap((result, i) => {
    const row = ready[i]!.row;
    if ("id" in result) {
      sent.push(row);
      providerIds.push({ id: row.id, providerId: result.id });
      return [];
    }
    return [settle(db, [row.id], { status: "failed", attempts: row.attempts + 1, reason: result.error })];
  });
  await db.batch([
    closeBatch(db, batchId, now),
    ...(providerIds.length ? [settleSent(db, providerIds, now)] : []),
    ...refusals,
    ...countUnopened(db, sent),
  ]);
  report.sent += sent.length;
  report.failed += ready.length - sent.length;
  return { report, sent: sentEvents(sent, now) };
}

/**
 * Sends the batch in its turn at the gate (or into the dev mailbox without RESEND_API_KEY). A 429 with a short
 * Retry-After holds every sender at the gate that long and sends the same batch again once: the key and the
 * rows, still `sending`, keep it exactly once.
 */
async function sendThroughGate(db: Database, config: Config, batchId: string, ready: PreparedBatch["ready"]): Promise<BatchOutcome> {
  const apiKey = config.RESEND_API_KEY;
  if (!apiKey) return { kind: "sent", results: ready.map(({ row }) => ({ id: `dev_${row.id}` })) };
  const send = async () => {
    let held: Promise<unknown> = Promise.resolve();
    const outcome = await sendBatch(
      { apiKey, baseUrl: config.RESEND_BASE_URL },
      batchId,
      ready.map((r) => r.email),
      async () => {
        ({ held } = await holdFromDispatch(db, await awaitSendSlot(db, config.SEND_RATE_PER_SECOND)));
      },
    );
    await held;
    return outcome;
  };
  const outcome = await send();
  if (outcome.kind !== "retry" || !outcome.rateLimited) return outcome;
  const wait = outcome.retryAfterMs ?? RATE_LIMIT_DEFAULT_WAIT_MS;
  if (wait > RATE_LIMIT_WAIT_IN_RUN_MS) return outcome;
  await holdSendGate(db, Date.now() + wait);
  return send();
}

/** Kinds whose sends are the contact's own mail: they emit `email_sent` and count towards `unopened_streak`. */
const CONTACT_MAIL = new Set(["marketing", "transactional"]);

/** The contact's own mail among sent messages. */
const ownMail = (sent: MessageRow[]) => sent.filter((m) => m.contactId && CONTACT_MAIL.has(m.kind));

/** Counts the sends in their contacts' unopened streak (delivery is the send here), with the settling statements. */
function countUnopened(db: Database, sent: MessageRow[]) {
  const own = ownMail(sent);
  if (own.length === 0) return [];
  const contactIds = JSON.stringify(own.map((m) => m.contactId));
  return [
    db
      .update(contacts)
      .set({
        unopenedStreak: sql`${contacts.unopenedStreak} + (SELECT count(*) FROM json_each(${contactIds}) WHERE value = ${contacts.id})`,
      })
      .where(sql`${contacts.id} IN (SELECT value FROM json_each(${contactIds}))`),
  ];
}

/** The `email_sent` events of sent messages, for the contacts' flows; their ids derive from the message, so recording twice stores once. */
function sentEvents(sent: MessageRow[], now: number): EventInsert[] {
  return ownMail(sent).map((m) => ({
    id: `sent_${m.id}`,
    contactId: m.contactId,
    anonymousId: null,
    name: "email_sent",
    properties: { flow_id: m.flowId, step_id: m.stepId, variant: m.variant },
    value: null,
    source: "system",
    machine: false,
    messageId: m.id,
    ts: now,
  }));
}

/**
 * A contact's outgoing flow webhooks, kept in the ContactTimer's own storage
 * (`pending_webhooks`) until they are answered, so a crash between attempts
 * loses none. Each call POSTs JSON with the webhook's stable
 * `nurture-webhook-id` (the same on every attempt, so the receiver can drop a
 * repeat), refuses a URL the webhook rules forbid, does not follow redirects
 * (Workers cannot check where a redirect leads), gives up after a timeout and
 * reads at most a few hundred bytes of the answer. A failure is retried with
 * exponential backoff from the object's alarm; after the last attempt it is
 * logged and recorded as a `webhook_failed` event on the contact's timeline.
 * Before each attempt the row is leased (its next attempt moved past the
 * timeout), so the alarm and a pass never call the same webhook at once, and a
 * call cut short by a crash is retried when the lease runs out.
 */
import { openDatabase } from "../db/client";
import type { Config, Env } from "../env";
import type { Effect } from "../flows/interpreter";
import { WEBHOOK_URL_REFUSALS, webhookPolicy, webhookUrlRefusal } from "../flows/webhook-url";
import { systemEvent } from "./changes";
import { storeEvents } from "./store-events";

/** How long one call may take. */
const WEBHOOK_TIMEOUT_MS = 10_000;
/** A leased call that has not reported back by then is presumed lost and tried again. */
const LEASE_MS = WEBHOOK_TIMEOUT_MS + 5_000;
/** Attempts before a webhook is given up: with the backoff below they span about an hour. */
export const WEBHOOK_MAX_ATTEMPTS = 5;
/** The wait after the first failure; each later one waits three times longer (1.5, 4.5, 13.5, 40.5 minutes). */
const FIRST_RETRY_MS = 90_000;
/** How much of an answer is read, for the failure's log line. */
const MAX_ANSWER_BYTES = 512;
/** Calls started at once by one delivery round. */
const CALLS_PER_ROUND = 10;

type WebhookEffect = Extract<Effect, { type: "webhook" }>;

type PendingWebhook = {
  id: string;
  contact_id: string;
  flow_id: string;
  step_id: string;
  url: string;
  body: string;
  attempts: number;
};

/** What one call came to: answered, or failed with a reason, `final` when no retry can change it. */
type CallResult = { ok: true } | { ok: false; final: boolean; error: string };

/** The wait before the attempt after `attempts` failed ones. */
export function webhookRetryDelay(attempts: number): number {
  return FIRST_RETRY_MS * 3 ** (attempts - 1);
}

/** The outgoing webhooks of one ContactTimer, in its SQLite storage. */
export class WebhookOutbox {
  constructor(
    private readonly sql: SqlStorage,
    private readonly env: Env,
    private readonly config: Config,
  ) {}

  /** Creates the table (again after an erase). */
  createTable(): void {
    this.sql.exec(`CREATE TABLE IF NOT EXISTS pending_webhooks (
      id TEXT PRIMARY KEY, contact_id TEXT NOT NULL, flow_id TEXT NOT NULL, step_id TEXT NOT NULL, url TEXT NOT NULL,
      body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, last_error TEXT, created_at INTEGER NOT NULL)`);
    this.sql.exec("CREATE INDEX IF NOT EXISTS pending_webhooks_next ON pending_webhooks (next_at)");
  }

  /** Stores webhooks a pass produced, due now; a webhook id already stored (a repeated pass) is not added twice. */
  enqueue(contactId: string, flowId: string, hooks: WebhookEffect[], now: number): void {
    for (const hook of hooks) {
      this.sql.exec(
        `INSERT INTO pending_webhooks (id, contact_id, flow_id, step_id, url, body, next_at, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
        hook.id,
        contactId,
        flowId,
        hook.stepId,
        hook.url,
        JSON.stringify(hook.body),
        now,
        now,
      );
    }
  }

  /** When the next attempt is due, or null when nothing is pending. */
  nextAttemptAt(): number | null {
    return this.sql.exec<{ at: number | null }>("SELECT min(next_at) AS at FROM pending_webhooks").toArray()[0]?.at ?? null;
  }

  /** Calls every webhook whose attempt is due, then reschedules the failed ones or gives them up. */
  async deliverDue(): Promise<void> {
    const now = Date.now();
    // Leased in one synchronous step, before any await: a second round running meanwhile cannot take the same rows.
    const due = this.sql
      .exec<PendingWebhook>(
        "SELECT id, contact_id, flow_id, step_id, url, body, attempts FROM pending_webhooks WHERE next_at <= ? ORDER BY next_at LIMIT ?",
        now,
        CALLS_PER_ROUND,
      )
      .toArray();
    for (const hook of due) {
      hook.attempts += 1;
      this.sql.exec("UPDATE pending_webhooks SET attempts = ?, next_at = ? WHERE id = ?", hook.attempts, now + LEASE_MS, hook.id);
    }
    const policy = webhookPolicy(this.config.PUBLIC_URL);
    await Promise.all(
      due.map(async (hook) => {
        const result = await callWebhook(hook, policy);
        if (result.ok) {
          this.sql.exec("DELETE FROM pending_webhooks WHERE id = ?", hook.id);
          return;
        }
        const log = { msg: "flow webhook failed", id: hook.id, url: hook.url, attempt: hook.attempts, error: result.error };
        if (!result.final && hook.attempts < WEBHOOK_MAX_ATTEMPTS) {
          console.warn(JSON.stringify({ ...log, retry_in_ms: webhookRetryDelay(hook.attempts) }));
          this.sql.exec(
            "UPDATE pending_webhooks SET next_at = ?, last_error = ? WHERE id = ?",
            Date.now() + webhookRetryDelay(hook.attempts),
            result.error,
            hook.id,
          );
          return;
        }
        console.error(JSON.stringify({ ...log, msg: "flow webhook given up" }));
        // Gone already when the contact was erased during the call: then nothing is written under their id.
        if (this.sql.exec("DELETE FROM pending_webhooks WHERE id = ?", hook.id).rowsWritten === 0) return;
        // The log line above already holds every detail, should the timeline be out of reach.
        await this.recordGivenUp(hook, result.error).catch((error) => {
          console.error(JSON.stringify({ msg: "recording a given-up webhook failed", id: hook.id, error: String(error) }));
        });
      }),
    );
  }

  /** Puts a webhook that will not be retried on the contact's timeline; its event id is derived, so a repeat records it once. */
  private async recordGivenUp(hook: PendingWebhook, error: string): Promise<void> {
    const now = Date.now();
    const event = systemEvent(
      hook.contact_id,
      "webhook_failed",
      { flow_id: hook.flow_id, step_id: hook.step_id, webhook_id: hook.id, url: hook.url, attempts: hook.attempts, error },
      now,
    );
    await storeEvents(openDatabase(this.env.DB), this.config, [{ ...event, id: `evt_${hook.id}_failed` }], now);
  }
}

/** POSTs one webhook; any answer but a 2xx is a failure, and a redirect is not followed. */
async function callWebhook(hook: PendingWebhook, policy: ReturnType<typeof webhookPolicy>): Promise<CallResult> {
  const refusal = webhookUrlRefusal(hook.url, policy);
  if (refusal) return { ok: false, final: true, error: WEBHOOK_URL_REFUSALS[refusal] };
  try {
    const res = await fetch(hook.url, {
      method: "POST",
      headers: { "content-type": "application/json", "nurture-webhook-id": hook.id },
      body: hook.body,
      redirect: "manual",
      signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
    });
    if (res.status >= 200 && res.status < 300) {
      await res.body?.cancel();
      return { ok: true };
    }
    const answer = await answerStart(res);
    const what = res.status >= 300 && res.status < 400 ? `redirect ${res.status} not followed` : `HTTP ${res.status}`;
    return { ok: false, final: false, error: answer ? `${what}: ${answer}` : what };
  } catch (error) {
    return { ok: false, final: false, error: String(error) };
  }
}

/** The start of an answer as text, for the log; the rest is never read. */
async function answerStart(res: Response): Promise<string> {
  const reader = res.body?.getReader();
  if (!reader) return "";
  try {
    const { value } = await reader.read();
    return value ? new TextDecoder().decode(value.subarray(0, MAX_ANSWER_BYTES)).trim() : "";
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

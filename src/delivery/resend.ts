/**
 * The Resend batch endpoint, and how each of its answers is classified for
 * the sender: sent (with per-email errors in permissive mode), retry later
 * (429, 5xx, timeouts, a concurrent request with the same key), accepted
 * before (the key was already used with another payload: an earlier attempt
 * of the batch went through), or refused (any other 4xx, with the provider's
 * reason; `splittable` when it refused the request's content, which one bad
 * email can cause). Plain fetch rather than the SDK, because the sender needs
 * the HTTP status and a timeout.
 */
import type { RenderedEmail } from "./render";

/** Resend's documented cap on emails per batch request. */
export const BATCH_LIMIT = 100;
const TIMEOUT_MS = 15_000;

export type BatchOutcome =
  | { kind: "sent"; results: ({ id: string } | { error: string })[] }
  | { kind: "retry"; reason: string; retryAfterMs: number | null; rateLimited: boolean }
  | { kind: "accepted_before"; reason: string }
  | { kind: "failed"; reason: string; splittable: boolean };

/** Whole-request refusals that concern the request's content (validation, size), not the account or the key. */
const CONTENT_REFUSALS = new Set([400, 413, 422]);

interface ResendBatchAnswer {
  data?: ({ id?: string } | null)[];
  errors?: { index: number; message: string }[];
}

/** The JSON body Resend expects for one email. */
function toResendEmail(email: RenderedEmail) {
  return {
    from: email.from,
    to: [email.to],
    subject: email.subject,
    html: email.html,
    text: email.text,
    ...(email.replyTo ? { reply_to: email.replyTo } : {}),
    ...(Object.keys(email.headers).length ? { headers: email.headers } : {}),
    tags: email.tags,
  };
}

function retryAfter(response: Response): number | null {
  const seconds = Number(response.headers.get("retry-after"));
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : null;
}

/**
 * Sends up to 100 emails in one request whose `Idempotency-Key` is the batch id. `awaitTurn` runs once the
 * body is built, and the request leaves as soon as it returns (the send gate's wait).
 */
export async function sendBatch(
  options: { apiKey: string; baseUrl: string },
  idempotencyKey: string,
  emails: RenderedEmail[],
  awaitTurn: () => Promise<void> = async () => {},
): Promise<BatchOutcome> {
  const payload = JSON.stringify(emails.map(toResendEmail));
  await awaitTurn();
  let response: Response;
  try {
    response = await fetch(`${options.baseUrl.replace(/\/+$/, "")}/emails/batch`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${options.apiKey}`,
        "content-type": "application/json",
        "idempotency-key": idempotencyKey,
        "x-batch-validation": "permissive",
      },
      body: payload,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    return {
      kind: "retry",
      reason: `network: ${error instanceof Error ? error.message : String(error)}`,
      retryAfterMs: null,
      rateLimited: false,
    };
  }
  const body = (await response.json().catch(() => null)) as (ResendBatchAnswer & { name?: string; message?: string }) | null;
  const reason = `${response.status} ${body?.name ?? ""}${body?.message ? `: ${body.message}` : ""}`.trim();
  if (response.ok) return { kind: "sent", results: matchResults(emails.length, body ?? {}) };
  if (response.status === 409) {
    // The key was used before with another payload: that earlier request went through. Otherwise the same key
    // is still being processed: try again later with it.
    if (body?.name === "invalid_idempotent_request") return { kind: "accepted_before", reason };
    return { kind: "retry", reason, retryAfterMs: retryAfter(response), rateLimited: false };
  }
  if (response.status === 429 || response.status >= 500)
    return { kind: "retry", reason, retryAfterMs: retryAfter(response), rateLimited: response.status === 429 };
  return { kind: "failed", reason, splittable: CONTENT_REFUSALS.has(response.status) };
}

/** Pairs each email with its id or its error; in permissive mode `data` lists only the accepted emails, in order. */
function matchResults(count: number, answer: ResendBatchAnswer): ({ id: string } | { error: string })[] {
  const errors = new Map((answer.errors ?? []).map((e) => [e.index, e.message]));
  const data = answer.data ?? [];
  const ids = data.length === count ? data : undefined;
  let next = 0;
  return Array.from({ length: count }, (_, index) => {
    const error = errors.get(index);
    if (error !== undefined) return { error };
    const entry = ids ? ids[index] : data[next++];
    return entry?.id ? { id: entry.id } : { error: "no id in the provider's answer" };
  });
}

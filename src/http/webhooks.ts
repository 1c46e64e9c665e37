/**
 * `POST /webhooks/resend`: delivery events from Resend, Svix-signed. The
 * signature is checked on the raw body against RESEND_WEBHOOK_SECRET (the
 * `resend` SDK's verifier: any of the space-separated signatures, timestamp
 * within 5 minutes), else 401; each svix-id is handled once. Events update the
 * message and flow back into the contact's flows as SPEC section 6 events.
 * A provider report never sends mail by itself: its events reach only the
 * contacts whose flows are listening (as the system's own opens and clicks do),
 * and whatever they make due leaves with the every-minute cron, not from this
 * request, so a delivery report cannot feed a send that feeds another report.
 */
import { z } from "@hono/zod-openapi";
import { Resend } from "resend";
import { newEventId } from "../contact/changes";
import { findMessageByProviderId, linkIndex, markBounced, markComplained, markDelivered } from "../db/messages";
import { suppress } from "../db/suppressions";
import { claimWebhookReceipt, forgetWebhookReceipt } from "../db/webhook-receipts";
import { type PipelineContext, type RecordOptions, recordEvents } from "../pipeline/pipeline";
import { unsubscribeContact } from "../tracking/consent";
import { recordEngagements } from "../tracking/engagement";
import { pipelineOf } from "./context";
import { ApiError, validationError } from "./errors";
import { createRouter } from "./router";

/** Provider text is signed, so it is cut to size rather than refused: a refused bounce would be retried forever, and lost. */
const providerText = (max: number) => z.string().transform((s) => s.slice(0, max));

/** The fields of a Resend event that Nurture reads; the rest of the payload is ignored. */
const ResendEvent = z.object({
  type: providerText(100).optional(),
  created_at: providerText(100).optional(),
  data: z
    .object({
      email_id: z.string().max(200).optional(),
      bounce: z.object({ type: providerText(100).optional(), message: providerText(1000).optional() }).optional(),
      click: z.object({ link: z.string().max(8192).optional() }).optional(),
    })
    .optional(),
});
type ResendEvent = z.infer<typeof ResendEvent>;

function verify(secret: string | undefined, payload: string, headers: Headers): unknown {
  if (!secret) throw new ApiError(401, "unauthorized", "Webhook signatures cannot be checked: RESEND_WEBHOOK_SECRET is not set");
  try {
    // Only the verifier is used; it never calls the API, so no API key is needed.
    return new Resend("re_verify_only").webhooks.verify({
      payload,
      headers: {
        id: headers.get("svix-id") ?? "",
        timestamp: headers.get("svix-timestamp") ?? "",
        signature: headers.get("svix-signature") ?? "",
      },
      webhookSecret: secret,
    });
  } catch {
    throw new ApiError(401, "invalid_signature", "The webhook signature is missing, wrong or too old");
  }
}

/** How a provider report's events are recorded (see the module header). */
const REPORTED: RecordOptions = { onlyListening: true, deliver: false };

/** Applies one verified Resend event. */
async function apply(ctx: PipelineContext, event: ResendEvent, now: number): Promise<void> {
  const { db } = ctx;
  const providerId = event.data?.email_id;
  if (!providerId) return;
  const m = await findMessageByProviderId(db, providerId);
  if (!m) return;
  const at = Date.parse(event.created_at ?? "") || now;
  const emit = (name: string, extra: Record<string, unknown> = {}) =>
    m.contactId
      ? recordEvents(
          ctx,
          [
            {
              id: newEventId(),
              contactId: m.contactId,
              anonymousId: null,
              name,
              properties: { flow_id: m.flowId, step_id: m.stepId, variant: m.variant, ...extra },
              value: null,
              source: "webhook",
              machine: false,
              messageId: m.id,
              ts: at,
            },
          ],
          now,
          REPORTED,
        )
      : Promise.resolve();
  switch (event.type) {
    case "email.delivered":
      await markDelivered(db, m.id, at);
      await emit("email_delivered");
      return;
    case "email.delivery_delayed":
      await emit("email_delivery_delayed");
      return;
    case "email.bounced": {
      const permanent = (event.data?.bounce?.type ?? "").toLowerCase() === "permanent";
      await markBounced(db, m.id, at, event.data?.bounce?.type ?? "unknown");
      if (permanent) await suppress(db, m.toEmail, "hard_bounce", event.data?.bounce?.message ?? null, now);
      await emit("email_bounced", { permanent, bounce_type: event.data?.bounce?.type ?? null });
      return;
    }
    case "email.complained":
      await markComplained(db, m.id, at);
      await suppress(db, m.toEmail, "complaint", null, now);
      await emit("email_complained");
      if (m.contactId) await unsubscribeContact(ctx, m.contactId, now, REPORTED);
      return;
    case "email.opened":
      await recordEngagements(ctx, [{ kind: "open", messageId: m.id, userAgent: null, at }], now, REPORTED);
      return;
    case "email.clicked": {
      const url = event.data?.click?.link;
      if (!url) return;
      const index = await linkIndex(db, m.id, url);
      await recordEngagements(ctx, [{ kind: "click", messageId: m.id, index, url, request: null, at }], now, REPORTED);
      return;
    }
  }
}

export const webhookRoutes = createRouter().post("/webhooks/resend", async (c) => {
  const payload = await c.req.text();
  const parsed = ResendEvent.safeParse(verify(c.var.config.RESEND_WEBHOOK_SECRET, payload, c.req.raw.headers));
  if (!parsed.success) throw validationError(parsed.error, "event");
  const event = parsed.data;
  const svixId = c.req.header("svix-id")!;
  const now = Date.now();
  const db = c.var.db;
  if (!(await claimWebhookReceipt(db, svixId, now))) return c.json({ ok: true, duplicate: true }, 200);
  try {
    await apply(pipelineOf(c), event, now);
  } catch (error) {
    // Forget the receipt so that Resend's retry is processed.
    await forgetWebhookReceipt(db, svixId);
    throw error;
  }
  return c.json({ ok: true }, 200);
});

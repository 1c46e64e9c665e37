/**
 * Carries out the interpreter's effects in D1 for one contact: queued
 * messages (deterministic ids, `ON CONFLICT DO NOTHING`, so a retried alarm or
 * redelivered event never queues twice), cancellations, contact updates, and
 * the enrollment mirror that reports and the profile read. Only the
 * ContactTimer calls it; webhooks are sent by the ContactTimer itself.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import type { ContactEvent } from "../db/contact-event";
import { upsertContact } from "../db/contacts";
import type { StoredFlow } from "../db/flows";
import { MAX_CONTEXT_BYTES, utf8Bytes } from "../db/outbox";
import { enrollments, messages, type NewMessageRow } from "../db/schema";
import type { Config } from "../env";
import type { ContactFacts } from "../flows/conditions";
import type { Effect, EnrollmentState } from "../flows/interpreter";
import { bumpRollups, type RollupIncrement } from "../reports/rollups";
import { contactChangeEvents } from "./changes";
import { storeEvents } from "./store-events";

/** What applying effects left for the caller: messages due now, events the contact's updates emitted, webhooks to send. */
export interface Applied {
  dueNow: string[];
  marketing: { messageId: string; at: number }[];
  emitted: ContactEvent[];
  webhooks: Extract<Effect, { type: "webhook" }>[];
}

/** Applies one enrollment's effects and mirrors its state to D1. */
export async function applyEffects(
  config: Config,
  db: Database,
  contact: ContactFacts,
  flow: Pick<StoredFlow, "id" | "name">,
  state: EnrollmentState,
  effects: Effect[],
  now: number,
  entered: boolean,
): Promise<Applied> {
  const applied: Applied = { dueNow: [], marketing: [], emitted: [], webhooks: [] };
  const rows: NewMessageRow[] = [];
  const context = {
    event: { name: state.trigger.name, properties: state.trigger.properties, value: state.trigger.value, ts: state.trigger.ts },
    flow: { id: flow.id, name: flow.name },
  };
  // A context too large to store fails its messages at once, as `too_large`, rather than the statement that inserts them.
  const contextBytes = utf8Bytes(JSON.stringify(context));
  const tooLarge = contextBytes > MAX_CONTEXT_BYTES;
  let converted = false;
  for (const effect of effects) {
    switch (effect.type) {
      case "queue_email":
      case "notify": {
        const email = effect.type === "queue_email";
        rows.push({
          id: effect.messageId,
          contactId: contact.id,
          toEmail: email ? contact.email : effect.to,
          kind: email ? effect.kind : "notify",
          flowId: flow.id,
          flowVersion: state.flowVersion,
          enrollmentId: state.id,
          stepId: effect.stepId,
          variant: email ? effect.variant : null,
          templateId: effect.templateId,
          // A subject stored before rendering replaces the template's (a subject-line variant).
          subject: email ? effect.subject : null,
          context: tooLarge ? { flow: context.flow, step: { id: effect.stepId } } : { ...context, step: { id: effect.stepId } },
          status: tooLarge ? "failed" : "queued",
          reason: tooLarge ? `too_large: the triggering event takes ${contextBytes} bytes, over the ${MAX_CONTEXT_BYTES}-byte cap` : null,
          dueAt: effect.dueAt,
          createdAt: now,
        });
        if (tooLarge) break;
        if (effect.dueAt <= now) applied.dueNow.push(effect.messageId);
        if (email && effect.kind === "marketing") applied.marketing.push({ messageId: effect.messageId, at: effect.dueAt });
        break;
      }
      case "update_contact": {
        const { contact: updated, changes } = await upsertContact(
          db,
          {
            email: contact.email,
            ...(effect.set ? { attributes: effect.set } : {}),
            ...(effect.increment ? { increment: effect.increment } : {}),
            ...(effect.lifecycleStage ? { lifecycleStage: effect.lifecycleStage } : {}),
            ...(effect.addTags ? { tags: effect.addTags } : {}),
            ...(effect.removeTags ? { removeTags: effect.removeTags } : {}),
          },
          now,
        );
        const { stored } = await storeEvents(db, config, contactChangeEvents(updated.id, changes, now), now);
        applied.emitted.push(...stored);
        break;
      }
      case "webhook":
        applied.webhooks.push(effect);
        break;
      case "cancel_queued":
        await cancelQueuedMessages(db, state.id, state.endReason ?? "exited");
        break;
      case "converted":
        converted = true;
        break;
      case "skipped":
      case "ended":
        break;
    }
  }
  const counted: RollupIncrement[] = [];
  if (entered) counted.push({ ts: now, flowId: flow.id, stepId: null, variant: null, counter: "entered" });
  if (converted) counted.push({ ts: now, flowId: flow.id, stepId: null, variant: null, counter: "converted" });
  if (counted.length > 0) await bumpRollups(db, counted);
  const mirror = mirrorEnrollment(db, contact.id, state, converted ? now : null);
  // One statement per message keeps each within D1's 100 bound parameters, however many emails a pass queues.
  await db.batch([mirror, ...rows.map((row) => db.insert(messages).values(row).onConflictDoNothing())]);
  return applied;
}

/** Cancels an enrollment's messages that have not been sent yet. */
export async function cancelQueuedMessages(db: Database, enrollmentId: string, reason: string): Promise<void> {
  await db.run(
    sql`UPDATE messages SET status = 'cancelled', reason = ${reason} WHERE enrollment_id = ${enrollmentId} AND status = 'queued'`,
  );
}

/** The statement that writes the enrollment's current state to the D1 mirror. */
function mirrorEnrollment(db: Database, contactId: string, state: EnrollmentState, convertedAt: number | null) {
  const row = {
    id: state.id,
    contactId,
    flowId: state.flowId,
    flowVersion: state.flowVersion,
    status: state.status,
    currentStep: state.stepId,
    exitReason: state.endReason,
    enteredAt: state.enteredAt,
    exitedAt: state.endedAt,
    convertedAt: state.convertedAt ?? convertedAt,
  };
  return db
    .insert(enrollments)
    .values(row)
    .onConflictDoUpdate({
      target: enrollments.id,
      set: {
        flowVersion: row.flowVersion,
        status: row.status,
        currentStep: row.currentStep,
        exitReason: row.exitReason,
        exitedAt: row.exitedAt,
        convertedAt: row.convertedAt,
      },
    });
}

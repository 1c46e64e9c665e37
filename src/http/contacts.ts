/**
 * Contacts API: upsert by email, profile, and GDPR erase. Validation and
 * authorisation only; storage goes through db/contacts.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { contactChangeEvents } from "../contact/changes";
import { contactTimer } from "../contact/dispatch";
import type { Database } from "../db/client";
import { eraseContactRows, findContact, recentContactActivity, upsertContact } from "../db/contacts";
import { CONSENT_STATES, type ContactRow } from "../db/schema";
import { erasedAddressKey } from "../db/suppressions";
import type { Env } from "../env";
import { JsonObject, TimeZone } from "../flows/schema";
import { recordEvents } from "../pipeline/pipeline";
import { sendConfirmation } from "../tracking/consent";
import { pipelineOf } from "./context";
import { ApiError } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, emailInput, isoTime } from "./shared-schemas";

const tagName = z.string().trim().min(1).max(100);

export const ContactInput = z
  .object({
    email: emailInput,
    first_name: z.string().max(200).nullable().optional(),
    last_name: z.string().max(200).nullable().optional(),
    timezone: TimeZone.nullable().optional(),
    attributes: JsonObject.optional().openapi({ description: "Merged into the stored attributes; a null value removes one" }),
    tags: z.array(tagName).max(100).optional().openapi({ description: "Added to the stored tags" }),
    lifecycle_stage: z.string().min(1).max(50).nullable().optional().openapi({ example: "lead" }),
    consent: z.enum(CONSENT_STATES).optional(),
  })
  .strict()
  .openapi("ContactInput");

export const Contact = z
  .object({
    id: z.string(),
    email: z.string(),
    first_name: z.string().nullable(),
    last_name: z.string().nullable(),
    timezone: z.string().nullable(),
    consent: z.enum(CONSENT_STATES),
    lifecycle_stage: z.string().nullable(),
    attributes: z.record(z.string(), z.unknown()),
    tags: z.array(z.string()),
    last_opened_at: isoTime.nullable(),
    last_clicked_at: isoTime.nullable(),
    last_order_at: isoTime.nullable(),
    orders_count: z.number().int(),
    total_spent: z.number(),
    unopened_streak: z.number().int(),
    created_at: isoTime,
    updated_at: isoTime,
  })
  .openapi("Contact");

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The public view of a contact row. */
export function contactView(row: ContactRow): z.infer<typeof Contact> {
  return {
    id: row.id,
    email: row.email,
    first_name: row.firstName,
    last_name: row.lastName,
    timezone: row.timezone,
    consent: row.consent,
    lifecycle_stage: row.lifecycleStage,
    attributes: row.attributes,
    tags: row.tags,
    last_opened_at: iso(row.lastOpenedAt),
    last_clicked_at: iso(row.lastClickedAt),
    last_order_at: iso(row.lastOrderAt),
    orders_count: row.ordersCount,
    total_spent: row.totalSpent,
    unopened_streak: row.unopenedStreak,
    created_at: new Date(row.createdAt).toISOString(),
    updated_at: new Date(row.updatedAt).toISOString(),
  };
}

const ContactProfile = Contact.extend({
  enrollments: z.array(
    z.object({
      id: z.string(),
      flow_id: z.string(),
      flow_version: z.number().int(),
      status: z.string(),
      current_step: z.string().nullable(),
      exit_reason: z.string().nullable(),
      entered_at: isoTime,
      exited_at: isoTime.nullable(),
    }),
  ),
  recent_events: z.array(
    z.object({
      id: z.string(),
      name: z.string(),
      properties: z.record(z.string(), z.unknown()),
      value: z.number().nullable(),
      machine: z.boolean(),
      ts: isoTime,
    }),
  ),
  recent_messages: z.array(
    z.object({
      id: z.string(),
      flow_id: z.string().nullable(),
      step_id: z.string().nullable(),
      status: z.string(),
      subject: z.string().nullable(),
      due_at: isoTime,
      sent_at: isoTime.nullable(),
    }),
  ),
}).openapi("ContactProfile");

const idOrEmailParam = z.object({
  idOrEmail: z
    .string()
    .min(1)
    .max(254)
    .openapi({ param: { name: "idOrEmail", in: "path" }, example: "ada@example.com" }),
});

const upsertRoute = createRoute({
  method: "put",
  path: "/v1/contacts",
  tags: ["contacts"],
  summary: "Create or update a contact by email",
  request: { body: jsonBody(ContactInput) },
  responses: {
    200: jsonResponse(Contact, "The contact was updated"),
    201: jsonResponse(Contact, "The contact was created"),
    422: jsonResponse(ErrorSchema, "Invalid input"),
  },
});

const getRoute = createRoute({
  method: "get",
  path: "/v1/contacts/{idOrEmail}",
  tags: ["contacts"],
  summary: "A contact's profile with enrollments, recent events and messages",
  request: { params: idOrEmailParam },
  responses: { 200: jsonResponse(ContactProfile, "The profile"), 404: jsonResponse(ErrorSchema, "No such contact") },
});

const deleteRoute = createRoute({
  method: "delete",
  path: "/v1/contacts/{idOrEmail}",
  tags: ["contacts"],
  summary: "Erase a contact and every row that names them (GDPR)",
  request: { params: idOrEmailParam },
  responses: { 204: { description: "Erased" }, 404: jsonResponse(ErrorSchema, "No such contact") },
});

const RECENT_LIMIT = 50;

/** A contact's attributes, all writes merged, stay under this: each write is bounded, their sum must be too (D1 rows stop at 2 MB). */
export const MAX_STORED_ATTRIBUTES_BYTES = 256 * 1024;

/** Refuses a write whose attributes, merged into the contact's stored ones, would outgrow MAX_STORED_ATTRIBUTES_BYTES. */
async function assertAttributesFit(db: Database, email: string, attributes: Record<string, unknown> | undefined): Promise<void> {
  if (!attributes) return;
  const stored = await findContact(db, email);
  if (!stored) return;
  const merged: Record<string, unknown> = { ...stored.attributes, ...attributes };
  for (const [key, value] of Object.entries(attributes)) if (value === null) delete merged[key];
  const bytes = new TextEncoder().encode(JSON.stringify(merged)).length;
  if (bytes > MAX_STORED_ATTRIBUTES_BYTES) {
    const message = `The contact's attributes would take ${bytes} bytes; at most ${MAX_STORED_ATTRIBUTES_BYTES} are kept per contact`;
    throw new ApiError(422, "attributes_too_large", message, [{ path: ["attributes"], code: "too_big", message }]);
  }
}

/** A ContactInput as the store's patch: the one mapping of wire names to columns, for a PUT and for each row of a batch. */
export function contactPatch(input: z.infer<typeof ContactInput>) {
  return {
    email: input.email,
    firstName: input.first_name,
    lastName: input.last_name,
    timezone: input.timezone,
    lifecycleStage: input.lifecycle_stage,
    consent: input.consent,
    attributes: input.attributes,
    tags: input.tags,
  };
}

/** Erases a contact everywhere (GDPR), keeping only the keyed hash that keeps the address suppressed (SPEC section 9). */
export async function eraseContact(env: Env, db: Database, secret: string, contact: ContactRow): Promise<void> {
  // The object first: if erasing D1 then fails, a retry still finds the contact to erase.
  await contactTimer(env, contact.id).erase();
  await eraseContactRows(db, contact, await erasedAddressKey(secret, contact.email), Date.now());
}

export const contactRoutes = createRouter()
  .openapi(upsertRoute, async (c) => {
    const input = c.req.valid("json");
    const now = Date.now();
    await assertAttributesFit(c.var.db, input.email, input.attributes);
    const { contact, created, changes } = await upsertContact(c.var.db, contactPatch(input), now);
    await recordEvents(pipelineOf(c), contactChangeEvents(contact.id, changes, now), now);
    // Double opt-in: a contact who just became pending gets the confirmation email.
    if (contact.consent === "pending" && (created || changes.some((ch) => ch.attribute === "consent"))) {
      await sendConfirmation(pipelineOf(c), contact, now);
    }
    return c.json(contactView(contact), created ? 201 : 200);
  })
  .openapi(getRoute, async (c) => {
    const contact = await findContact(c.var.db, c.req.valid("param").idOrEmail);
    if (!contact) throw new ApiError(404, "not_found", "No such contact");
    const { enrolled, recentEvents, recentMessages } = await recentContactActivity(c.var.db, contact.id, RECENT_LIMIT);
    return c.json(
      {
        ...contactView(contact),
        enrollments: enrolled.map((e) => ({
          id: e.id,
          flow_id: e.flowId,
          flow_version: e.flowVersion,
          status: e.status,
          current_step: e.currentStep,
          exit_reason: e.exitReason,
          entered_at: new Date(e.enteredAt).toISOString(),
          exited_at: iso(e.exitedAt),
        })),
        recent_events: recentEvents.map((e) => ({
          id: e.id,
          name: e.name,
          properties: e.properties,
          value: e.value,
          machine: e.machine,
          ts: new Date(e.ts).toISOString(),
        })),
        recent_messages: recentMessages.map((m) => ({
          id: m.id,
          flow_id: m.flowId,
          step_id: m.stepId,
          status: m.status,
          subject: m.subject,
          due_at: new Date(m.dueAt).toISOString(),
          sent_at: iso(m.sentAt),
        })),
      },
      200,
    );
  })
  .openapi(deleteRoute, async (c) => {
    const contact = await findContact(c.var.db, c.req.valid("param").idOrEmail);
    if (!contact) throw new ApiError(404, "not_found", "No such contact");
    await eraseContact(c.env, c.var.db, c.var.config.SIGNING_SECRET, contact);
    return c.body(null, 204);
  });

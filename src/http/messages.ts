/** `GET /v1/messages`: the outbox and its history, newest first, filtered and paged with a cursor. */
import { createRoute, z } from "@hono/zod-openapi";
import { findContact } from "../db/contacts";
import { messagePage } from "../db/messages";
import { MESSAGE_KINDS, MESSAGE_STATUSES, type MessageRow } from "../db/schema";
import { ApiError } from "./errors";
import { createRouter, jsonResponse } from "./router";
import { ErrorSchema, isoTime } from "./shared-schemas";

const Message = z
  .object({
    id: z.string(),
    contact_id: z.string().nullable(),
    to: z.string(),
    kind: z.enum(MESSAGE_KINDS),
    flow_id: z.string().nullable(),
    step_id: z.string().nullable(),
    variant: z.string().nullable(),
    template_id: z.string().nullable(),
    subject: z.string().nullable(),
    status: z.enum(MESSAGE_STATUSES),
    attempts: z.number().int(),
    provider_id: z.string().nullable(),
    reason: z.string().nullable(),
    due_at: isoTime,
    created_at: isoTime,
    sent_at: isoTime.nullable(),
    delivered_at: isoTime.nullable(),
    opened_at: isoTime.nullable(),
    clicked_at: isoTime.nullable(),
    bounced_at: isoTime.nullable(),
    complained_at: isoTime.nullable(),
  })
  .openapi("Message");

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The API view of an outbox row. */
export function messageView(m: MessageRow): z.infer<typeof Message> {
  return {
    id: m.id,
    contact_id: m.contactId,
    to: m.toEmail,
    kind: m.kind,
    flow_id: m.flowId,
    step_id: m.stepId,
    variant: m.variant,
    template_id: m.templateId,
    subject: m.subject,
    status: m.status,
    attempts: m.attempts,
    provider_id: m.providerId,
    reason: m.reason,
    due_at: new Date(m.dueAt).toISOString(),
    created_at: new Date(m.createdAt).toISOString(),
    sent_at: iso(m.sentAt),
    delivered_at: iso(m.deliveredAt),
    opened_at: iso(m.openedAt),
    clicked_at: iso(m.clickedAt),
    bounced_at: iso(m.bouncedAt),
    complained_at: iso(m.complainedAt),
  };
}

const Cursor = z
  .string()
  .regex(/^\d{1,16}:[^:]{1,200}$/, "Use the next_cursor of the previous page")
  .transform((v) => {
    const at = v.indexOf(":");
    return { createdAt: Number(v.slice(0, at)), id: v.slice(at + 1) };
  });

const route = createRoute({
  method: "get",
  path: "/v1/messages",
  tags: ["messages"],
  summary: "The outbox and its history, newest first",
  request: {
    query: z.object({
      contact: z.string().min(1).max(254).optional().openapi({ description: "A contact id or email" }),
      flow: z.string().min(1).max(64).optional(),
      status: z.enum(MESSAGE_STATUSES).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      after: Cursor.optional().openapi({ type: "string", description: "The next_cursor of the previous page" }),
    }),
  },
  responses: {
    200: jsonResponse(z.object({ messages: z.array(Message), next_cursor: z.string().nullable() }), "One page of messages"),
    404: jsonResponse(ErrorSchema, "No such contact"),
  },
});

export const messageRoutes = createRouter().openapi(route, async (c) => {
  const { contact, flow, status, limit, after } = c.req.valid("query");
  let contactId: string | undefined;
  if (contact) {
    const row = await findContact(c.var.db, contact);
    if (!row) throw new ApiError(404, "not_found", "No such contact");
    contactId = row.id;
  }
  const page = await messagePage(c.var.db, { contactId, flowId: flow, status, after }, limit);
  const last = page.length === limit ? page[page.length - 1] : undefined;
  return c.json({ messages: page.map(messageView), next_cursor: last ? `${last.createdAt}:${last.id}` : null }, 200);
});

/**
 * Server-side events: `POST /v1/events` takes one event or up to 500. An event
 * names its contact by email (created when unknown) or by id (which must
 * exist); a batch is all-or-nothing on validation, so a bad item changes nothing.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { newEventId } from "../contact/changes";
import { existingContactIds, normaliseEmail, resolveContactsByEmail } from "../db/contacts";
import type { EventInsert } from "../db/events";
import { JsonObject } from "../flows/schema";
import { recordEvents } from "../pipeline/pipeline";
import { pipelineOf } from "./context";
import { ApiError } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, emailInput, instantInput } from "./shared-schemas";

/** The most events one request may carry. */
export const MAX_EVENTS_PER_REQUEST = 500;

export const EventName = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[^\p{Cc}]+$/u, "Event names cannot contain control characters")
  .openapi({ example: "order_placed" });

export const EventInput = z
  .object({
    id: z.string().min(1).max(200).optional().openapi({ description: "Client id; the same id is stored and processed once" }),
    email: emailInput.optional(),
    contact_id: z.string().min(1).max(100).optional(),
    name: EventName,
    properties: JsonObject.optional(),
    value: z.number().finite().optional().openapi({ description: "Monetary value (e.g. an order's total)" }),
    ts: instantInput.optional(),
  })
  .strict()
  .refine((e) => e.email !== undefined || e.contact_id !== undefined, {
    message: "Either email or contact_id is required",
    path: ["email"],
  })
  .openapi("EventInput");

const EventsBody = z
  .union([EventInput, z.array(EventInput).min(1).max(MAX_EVENTS_PER_REQUEST)])
  .openapi({ description: `One event or an array of at most ${MAX_EVENTS_PER_REQUEST}` });

const EventsAccepted = z
  .object({
    accepted: z.number().int().openapi({ description: "Events stored by this request" }),
    duplicates: z.number().int().openapi({ description: "Events whose id was already stored" }),
    events: z.array(z.object({ id: z.string(), contact_id: z.string(), duplicate: z.boolean() })),
  })
  .openapi("EventsAccepted");

const postRoute = createRoute({
  method: "post",
  path: "/v1/events",
  tags: ["events"],
  summary: "Record server-side events (one or an array of up to 500)",
  request: { body: jsonBody(EventsBody) },
  responses: {
    202: jsonResponse(EventsAccepted, "Accepted and handed to the contacts' flows"),
    404: jsonResponse(ErrorSchema, "A contact_id names no contact"),
    422: jsonResponse(ErrorSchema, "Invalid input"),
  },
});

/** The stored value of an event: its `value`, else a numeric `properties.value`. */
function eventValue(input: z.infer<typeof EventInput>): number | null {
  if (input.value !== undefined) return input.value;
  const fromProperties = input.properties?.value;
  return typeof fromProperties === "number" && Number.isFinite(fromProperties) ? fromProperties : null;
}

export const eventRoutes = createRouter().openapi(postRoute, async (c) => {
  const body = c.req.valid("json");
  const inputs = Array.isArray(body) ? body : [body];
  const now = Date.now();
  const db = c.var.db;

  const namedIds = inputs.flatMap((e) => (e.email === undefined && e.contact_id ? [e.contact_id] : []));
  const known = await existingContactIds(db, namedIds);
  const missing = namedIds.filter((id) => !known.has(id));
  if (missing.length > 0) {
    throw new ApiError(
      404,
      "contact_not_found",
      `No contact with id ${missing[0]}`,
      [...new Set(missing.map((id) => inputs.findIndex((e) => e.email === undefined && e.contact_id === id)))].map((i) => ({
        path: [i, "contact_id"],
        code: "not_found",
        message: "No such contact",
      })),
    );
  }
  const byEmail = await resolveContactsByEmail(
    db,
    inputs.flatMap((e) => (e.email ? [e.email] : [])),
    now,
  );

  const rows: EventInsert[] = inputs.map((e) => ({
    id: e.id ?? newEventId(),
    contactId: e.email ? (byEmail.get(normaliseEmail(e.email)) as string) : (e.contact_id as string),
    anonymousId: null,
    name: e.name,
    properties: e.properties ?? {},
    value: eventValue(e),
    source: "api",
    machine: false,
    messageId: null,
    ts: e.ts ?? now,
  }));
  const { newIds } = await recordEvents(pipelineOf(c), rows, now);
  return c.json(
    {
      accepted: newIds.size,
      duplicates: rows.length - newIds.size,
      events: rows.map((r) => ({ id: r.id, contact_id: r.contactId as string, duplicate: !newIds.has(r.id) })),
    },
    202,
  );
});

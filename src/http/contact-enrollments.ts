/**
 * Enrolling a contact in a flow by hand, and removing them from one: `POST /v1/contacts/:idOrEmail/enrollments` and
 * `DELETE /v1/contacts/:idOrEmail/enrollments/:flow`. Both go to the contact's ContactTimer, which owns enrollments
 * and applies the flow's own rules; this module validates, and turns the object's refusals into 404, 409 and 422.
 * The dashboard's contact page calls the same functions.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { EnrollmentSummary, HandEnrollment } from "../contact/contact-timer";
import { contactTimer } from "../contact/dispatch";
import type { Database } from "../db/client";
import { findContact } from "../db/contacts";
import type { ContactRow } from "../db/schema";
import type { Env } from "../env";
import { ApiError } from "./errors";
import { idParam } from "./flows";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, isoTime } from "./shared-schemas";

type Refusal = Extract<HandEnrollment, { enrolled: false }>["reason"];

/** How the API and the dashboard answer a refusal: its status, error code and sentence. */
export interface RefusalAnswer {
  status: 404 | 409 | 422;
  code: string;
  message: string;
}

/** A consent or suppression refusal: the reason is the code. */
function notForMarketing(reason: Refusal, why: string): RefusalAnswer {
  return { status: 422, code: reason, message: `${why}, so a marketing flow may not enroll them` };
}

/** The one place a hand enrollment's refusal becomes an answer; exhaustive (tsc fails on a reason without a case). */
export function handEnrollmentRefusalAnswer(reason: Refusal): RefusalAnswer {
  switch (reason) {
    case "no_contact":
      return { status: 404, code: "not_found", message: "No such contact" };
    case "no_flow":
      return { status: 404, code: "not_found", message: "No such flow" };
    case "flow_inactive":
      return { status: 409, code: "flow_inactive", message: "The flow is not active; activate it before enrolling anyone" };
    case "already_enrolled":
      return { status: 409, code: "already_enrolled", message: "The contact is already running in this flow" };
    // Both re-entry reasons keep the one wire code `reentry` (README); the sentence says which rule applied.
    case "reentry_never":
      return { status: 409, code: "reentry", message: "The flow's re-entry rule (never) does not let this contact enter it again" };
    case "reentry_cooldown":
      return {
        status: 409,
        code: "reentry",
        message: "The flow's re-entry rule does not let this contact enter it again yet: its cooldown has not passed",
      };
    case "unsubscribed":
      return notForMarketing(reason, "The contact is unsubscribed");
    case "not_subscribed":
      return notForMarketing(reason, "The contact is not subscribed (no consent, or not yet confirmed)");
    case "suppressed":
      return notForMarketing(reason, "The contact's address is suppressed (bounce or complaint)");
  }
}

const flowId = idParam.shape.id;

const HandEnrollmentInput = z
  .object({
    flow: flowId.openapi({ description: "The id of an active flow", example: "welcome" }),
    request_id: z.string().min(1).max(100).optional().openapi({
      description: "Makes the call idempotent: the same id enrolls once and answers the same enrollment again",
      example: "support-ticket-4711",
    }),
  })
  .openapi("HandEnrollmentInput");

const Enrollment = z
  .object({
    id: z.string(),
    flow_id: z.string(),
    flow_version: z.number().int(),
    status: z.enum(["active", "exited", "completed"]),
    current_step: z.string().nullable(),
    exit_reason: z.string().nullable(),
    entered_at: isoTime,
    exited_at: isoTime.nullable(),
  })
  .openapi("Enrollment");

const contactParam = z.object({
  idOrEmail: z
    .string()
    .min(1)
    .max(254)
    .openapi({ param: { name: "idOrEmail", in: "path" }, example: "ada@example.com" }),
});

const enrollRoute = createRoute({
  method: "post",
  path: "/v1/contacts/{idOrEmail}/enrollments",
  tags: ["contacts"],
  summary: "Enroll a contact in an active flow now, under the flow's re-entry, consent and suppression rules",
  request: { params: contactParam, body: jsonBody(HandEnrollmentInput) },
  responses: {
    200: jsonResponse(Enrollment, "This request id enrolled the contact before; that enrollment as it stands"),
    201: jsonResponse(Enrollment, "Enrolled; the flow's first steps have run"),
    404: jsonResponse(ErrorSchema, "No such contact or flow"),
    409: jsonResponse(ErrorSchema, "The flow is not active, or its re-entry rule refuses (already running, or entered before)"),
    422: jsonResponse(ErrorSchema, "Invalid input, or a marketing flow and the contact may not get marketing mail"),
  },
});

const removeRoute = createRoute({
  method: "delete",
  path: "/v1/contacts/{idOrEmail}/enrollments/{flow}",
  tags: ["contacts"],
  summary: "End the contact's running enrollment in a flow (exited, reason removed) and cancel its queued mail",
  request: { params: contactParam.extend({ flow: flowId.openapi({ param: { name: "flow", in: "path" }, example: "welcome" }) }) },
  responses: {
    200: jsonResponse(Enrollment, "The enrollment, ended"),
    404: jsonResponse(ErrorSchema, "No such contact, or the contact is not running in that flow"),
  },
});

/** An enrollment as the API shows it. */
function enrollmentView(e: EnrollmentSummary): z.infer<typeof Enrollment> {
  return {
    id: e.id,
    flow_id: e.flowId,
    flow_version: e.flowVersion,
    status: e.status,
    current_step: e.stepId,
    exit_reason: e.endReason,
    entered_at: new Date(e.enteredAt).toISOString(),
    exited_at: e.endedAt === null ? null : new Date(e.endedAt).toISOString(),
  };
}

/** Enrolls the contact by hand; without a request id each call is a new request. */
export function enrollContactByHand(env: Env, contact: ContactRow, flow: string, requestId?: string): Promise<HandEnrollment> {
  return contactTimer(env, contact.id).enrollByHand(contact.id, flow, requestId ?? crypto.randomUUID());
}

/** Removes the contact from the flow; null when they are not running in it. */
export function removeContactFromFlow(env: Env, contact: ContactRow, flow: string): Promise<EnrollmentSummary | null> {
  return contactTimer(env, contact.id).removeFromFlow(contact.id, flow);
}

async function contactOr404(db: Database, idOrEmail: string): Promise<ContactRow> {
  const contact = await findContact(db, idOrEmail);
  if (!contact) throw new ApiError(404, "not_found", "No such contact");
  return contact;
}

export const contactEnrollmentRoutes = createRouter()
  .openapi(enrollRoute, async (c) => {
    const contact = await contactOr404(c.var.db, c.req.valid("param").idOrEmail);
    const input = c.req.valid("json");
    const result = await enrollContactByHand(c.env, contact, input.flow, input.request_id);
    if (!result.enrolled) {
      const { status, code, message } = handEnrollmentRefusalAnswer(result.reason);
      throw new ApiError(status, code, message);
    }
    return c.json(enrollmentView(result.enrollment), result.replayed ? 200 : 201);
  })
  .openapi(removeRoute, async (c) => {
    const params = c.req.valid("param");
    const contact = await contactOr404(c.var.db, params.idOrEmail);
    const ended = await removeContactFromFlow(c.env, contact, params.flow);
    if (!ended) throw new ApiError(404, "not_enrolled", "The contact is not running in that flow");
    return c.json(enrollmentView(ended), 200);
  });

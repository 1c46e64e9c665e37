/**
 * Test sends: `POST /v1/flows/:id/test`, every email of a flow, in order, to a test
 * address now; `POST /v1/templates/:id/test`, one template (the dashboard's editor sends
 * through the same `sendTemplateTest`). Each is rendered as the real one would be (for a named contact
 * or the sample contact), sent through the normal delivery path, and kept out
 * of stats: its kind is `test`, which emits no events and counts nowhere.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Database } from "../db/client";
import { findContact } from "../db/contacts";
import { findFlow } from "../db/flows";
import { type ContactRow, links, type MessageRow, messages, type NewMessageRow, type TemplateRow } from "../db/schema";
import { findTemplate } from "../db/templates";
import { draftMessage, SAMPLE_EVENT, sampleContact } from "../delivery/preview";
import { renderMessage } from "../delivery/render";
import { deliverMessagesNow, renderedColumns, unsendable } from "../delivery/sender";
import type { Config, Env } from "../env";
import { ApiError } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, emailInput } from "./shared-schemas";
import { TemplateId } from "./templates";

export const TestInput = z
  .object({
    to: emailInput,
    contact: z
      .string()
      .min(1)
      .max(254)
      .optional()
      .openapi({ description: "Render for this contact (id or email); the sample contact otherwise" }),
  })
  .strict()
  .openapi("FlowTestInput");

const TestResult = z
  .object({
    messages: z.array(
      z.object({
        id: z.string(),
        step_id: z.string(),
        template_id: z.string(),
        subject: z.string(),
        status: z.string(),
        reason: z.string().nullable(),
      }),
    ),
  })
  .openapi("FlowTestResult");

const route = createRoute({
  method: "post",
  path: "/v1/flows/{id}/test",
  tags: ["flows"],
  summary: "Send every email of the flow, in order, to a test address now",
  request: {
    params: z.object({
      id: z
        .string()
        .min(1)
        .max(64)
        .openapi({ param: { name: "id", in: "path" } }),
    }),
    body: jsonBody(TestInput),
  },
  responses: { 200: jsonResponse(TestResult, "The test messages and how each ended"), 404: jsonResponse(ErrorSchema, "No such flow") },
});

const TemplateTestResult = z
  .object({ id: z.string(), subject: z.string(), status: z.string(), reason: z.string().nullable() })
  .openapi("TemplateTestResult");

const templateRoute = createRoute({
  method: "post",
  path: "/v1/templates/{id}/test",
  tags: ["templates"],
  summary: "Send the stored template to a test address now (kind `test`: no events, no stats)",
  request: {
    params: z.object({ id: TemplateId.openapi({ param: { name: "id", in: "path" } }) }),
    body: jsonBody(TestInput),
  },
  responses: {
    200: jsonResponse(TemplateTestResult, "The test message and how it ended"),
    404: jsonResponse(ErrorSchema, "No such template or contact"),
    422: jsonResponse(ErrorSchema, "The template cannot be sent as it renders"),
  },
});

/** Renders `template` for `contact` (the sample event as `event`), sends it to `to` at once as a test, and returns the message as it ended. */
export async function sendTemplateTest(
  env: Env,
  db: Database,
  config: Config,
  template: TemplateRow,
  contact: ContactRow,
  to: string,
): Promise<MessageRow> {
  const now = Date.now();
  const message = draftMessage(
    {
      id: `test_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`,
      kind: "test",
      toEmail: to,
      templateId: template.id,
      context: { event: { ...SAMPLE_EVENT, ts: now } },
    },
    now,
  );
  const email = await renderMessage(message, template, contact, config);
  const refused = unsendable(email);
  if (refused) throw new ApiError(422, "unsendable", `The template cannot be sent: ${refused}`);
  const row = { ...message, ...renderedColumns({ ...email, subject: `[Test] ${email.subject}` }) };
  const linkRows = email.links.map((url, idx) => db.insert(links).values({ messageId: message.id, idx, url }));
  await db.batch([db.insert(messages).values(row), ...linkRows]);
  await deliverMessagesNow(env, [message.id]);
  return (await db.query.messages.findFirst({ where: (m, { eq }) => eq(m.id, message.id) })) as MessageRow;
}

export const flowTestRoutes = createRouter().openapi(route, async (c) => {
  const db = c.var.db;
  const flow = await findFlow(db, c.req.valid("param").id);
  if (!flow) throw new ApiError(404, "not_found", "No such flow");
  const { to, contact: who } = c.req.valid("json");
  const now = Date.now();
  const contact = who ? await findContact(db, who) : sampleContact(now);
  if (!contact) throw new ApiError(404, "not_found", "No such contact");
  const run = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const rows: NewMessageRow[] = [];
  const linkRows: { messageId: string; idx: number; url: string }[] = [];
  for (const step of flow.definition.steps) {
    if (step.type !== "email") continue;
    const templateId = step.template ?? step.variants![0]!.template;
    const template = await findTemplate(db, templateId);
    if (!template) throw new ApiError(422, "unknown_template", `Step ${step.id} uses template ${templateId}, which does not exist`);
    const message = draftMessage(
      {
        id: `test_${run}_${rows.length}`,
        kind: "test",
        toEmail: to,
        templateId,
        flowId: flow.id,
        stepId: step.id,
        context: { event: { ...SAMPLE_EVENT, ts: now }, flow: { id: flow.id, name: flow.name }, step: { id: step.id } },
        // Keeps the steps' order in the outbox and in the recipient's inbox.
        dueAt: now + rows.length,
      },
      now,
    );
    const email = await renderMessage(message, template, contact, c.var.config);
    const refused = unsendable(email);
    if (refused) throw new ApiError(422, "unsendable", `Step ${step.id} cannot be sent: ${refused}`);
    rows.push({ ...message, ...renderedColumns({ ...email, subject: `[Test] ${email.subject}` }) });
    linkRows.push(...email.links.map((url, idx) => ({ messageId: message.id, idx, url })));
  }
  // One statement per row keeps each within D1's bound-parameter limit.
  const inserts = [...rows.map((r) => db.insert(messages).values(r)), ...linkRows.map((l) => db.insert(links).values(l))];
  if (inserts.length > 0) await db.batch(inserts as [(typeof inserts)[number], ...typeof inserts]);
  await deliverMessagesNow(
    c.env,
    rows.map((r) => r.id as string),
  );
  const sent = await Promise.all(rows.map((r) => db.query.messages.findFirst({ where: (m, { eq }) => eq(m.id, r.id as string) })));
  return c.json(
    {
      messages: sent.map((m) => ({
        id: m!.id,
        step_id: m!.stepId!,
        template_id: m!.templateId!,
        subject: m!.subject ?? "",
        status: m!.status,
        reason: m!.reason,
      })),
    },
    200,
  );
});
flowTestRoutes.openapi(templateRoute, async (c) => {
  const template = await findTemplate(c.var.db, c.req.valid("param").id);
  if (!template) throw new ApiError(404, "not_found", "No such template");
  const { to, contact: who } = c.req.valid("json");
  const contact = who ? await findContact(c.var.db, who) : sampleContact(Date.now());
  if (!contact) throw new ApiError(404, "not_found", "No such contact");
  const sent = await sendTemplateTest(c.env, c.var.db, c.var.config, template, contact, to);
  return c.json({ id: sent.id, subject: sent.subject ?? "", status: sent.status, reason: sent.reason }, 200);
});

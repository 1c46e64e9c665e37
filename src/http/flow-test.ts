/**
 * `POST /v1/flows/:id/test`: every email of a flow to a test address now: each email step's template, every A/B
 * variant (another template or another subject), and every notify email, in the flow's order. Each is rendered
 * as the real one would be (for a named contact or the sample contact), marked as a test (a `[Test]` subject and
 * the `X-Nurture-Test` header), sent through the normal delivery path, and kept out of stats: its kind is `test`,
 * which emits no events and counts nowhere. Without a provider each lands in the dev mailbox, and the answer links
 * to it there. `POST /v1/templates/:id/test` sends one template the same way. The dashboard's flow page and
 * template editor call the same `sendFlowTest` and `sendTemplateTest`.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { findMessage } from "../db/admin-views";
import type { Database } from "../db/client";
import { findContact } from "../db/contacts";
import { findFlow, type StoredFlow } from "../db/flows";
import { insertMessagesWithLinks, type MessageLinks } from "../db/messages";
import { findMessagesByIds } from "../db/outbox";
import type { ContactRow, MessageRow, NewMessageRow, TemplateRow } from "../db/schema";
import { findTemplate } from "../db/templates";
import { draftMessage, SAMPLE_EVENT, sampleContact } from "../delivery/preview";
import { renderMessage } from "../delivery/render";
import { renderedColumns, unsendable } from "../delivery/sender";
import type { Config, Env } from "../env";
import { variantKey } from "../flows/interpreter";
import type { Flow } from "../flows/schema";
import { deliverNow } from "../pipeline/pipeline";
import { ApiError } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, emailInput } from "./shared-schemas";
import { TemplateId } from "./templates";

/** The header every test email carries (its value: the flow id), so a mail filter can tell tests apart. */
export const TEST_HEADER = "X-Nurture-Test";

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
        step_type: z.enum(["email", "notify"]),
        variant: z.string().nullable().openapi({ description: "The A/B variant's name (as in stats), null for a step without variants" }),
        template_id: z.string(),
        subject: z.string(),
        status: z.string(),
        reason: z.string().nullable(),
        mailbox_url: z
          .string()
          .nullable()
          .openapi({ description: "The message in the dashboard's dev mailbox, when no provider is configured; else null" }),
      }),
    ),
  })
  .openapi("FlowTestResult");

const route = createRoute({
  method: "post",
  path: "/v1/flows/{id}/test",
  tags: ["flows"],
  summary: "Send every email of the flow (every variant and notify email), in order, to a test address now",
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
  responses: {
    200: jsonResponse(TestResult, "The test messages and how each ended"),
    404: jsonResponse(ErrorSchema, "No such flow"),
    422: jsonResponse(ErrorSchema, "A template is missing, does not render, or renders unsendable"),
  },
});

/** One email a test send covers. */
interface TestEmail {
  stepId: string;
  stepType: "email" | "notify";
  templateId: string;
  variant: string | null;
  /** A subject-line variant's subject, replacing the template's. */
  subject: string | null;
}

/** Every email a flow can send, in step order, each variant of a step after the other. */
export function testEmailsOf(flow: Flow): TestEmail[] {
  return flow.steps.flatMap((step): TestEmail[] => {
    if (step.type === "notify") return [{ stepId: step.id, stepType: "notify", templateId: step.template, variant: null, subject: null }];
    if (step.type !== "email") return [];
    if (!step.variants) return [{ stepId: step.id, stepType: "email", templateId: step.template ?? "", variant: null, subject: null }];
    return step.variants.map((v, i) => ({
      stepId: step.id,
      stepType: "email",
      templateId: v.template ?? step.template ?? "",
      variant: variantKey(step, i),
      subject: v.subject ?? null,
    }));
  });
}

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
  const row = {
    ...message,
    ...renderedColumns({ ...email, subject: `[Test] ${email.subject}`, headers: { ...email.headers, [TEST_HEADER]: template.id } }),
  };
  await insertMessagesWithLinks(db, [row], [{ messageId: message.id, urls: email.links }]);
  await deliverNow({ env, config, db }, [message.id]);
  return (await findMessage(db, message.id)) as MessageRow;
}

/** One test email as sent: the API's answer item, and what the dashboard's result page lists. */
export type FlowTestMessage = z.infer<typeof TestResult>["messages"][number];

/**
 * Sends every email of `flow` (testEmailsOf) to `to` now as tests, rendered for `contact`, and returns each as it
 * ended. Throws a 422 ApiError, before anything is written, when a template is missing, fails to render or
 * renders unsendable.
 */
export async function sendFlowTest(
  env: Env,
  db: Database,
  config: Config,
  flow: Pick<StoredFlow, "id" | "name" | "definition">,
  contact: ContactRow,
  to: string,
): Promise<FlowTestMessage[]> {
  const now = Date.now();
  const run = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const items = testEmailsOf(flow.definition);
  const rows: NewMessageRow[] = [];
  const linkRows: MessageLinks[] = [];
  const templates = new Map<string, TemplateRow | undefined>();
  for (const item of items) {
    if (!templates.has(item.templateId)) templates.set(item.templateId, await findTemplate(db, item.templateId));
    const template = templates.get(item.templateId);
    if (!template)
      throw new ApiError(422, "unknown_template", `Step ${item.stepId} uses template ${item.templateId}, which does not exist`);
    const message = draftMessage(
      {
        id: `test_${run}_${rows.length}`,
        kind: "test",
        toEmail: to,
        templateId: item.templateId,
        flowId: flow.id,
        stepId: item.stepId,
        variant: item.variant,
        context: { event: { ...SAMPLE_EVENT, ts: now }, flow: { id: flow.id, name: flow.name }, step: { id: item.stepId } },
        // Keeps the steps' order in the outbox and in the recipient's inbox.
        dueAt: now + rows.length,
      },
      now,
    );
    const source = item.subject === null ? template : { ...template, subject: item.subject };
    const email = await renderMessage(message, source, contact, config).catch((error: unknown) => {
      throw new ApiError(
        422,
        "render_failed",
        `Step ${item.stepId} does not render: ${error instanceof Error ? error.message : String(error)}`,
      );
    });
    const refused = unsendable(email);
    if (refused) throw new ApiError(422, "unsendable", `Step ${item.stepId} cannot be sent: ${refused}`);
    const marked = { ...email, subject: `[Test] ${email.subject}`, headers: { ...email.headers, [TEST_HEADER]: flow.id } };
    rows.push({ ...message, ...renderedColumns(marked) });
    linkRows.push({ messageId: message.id, urls: email.links });
  }
  await insertMessagesWithLinks(db, rows, linkRows);
  const ids = rows.map((r) => r.id as string);
  await deliverNow({ env, config, db }, ids);
  const byId = new Map((await findMessagesByIds(db, ids)).map((m) => [m.id, m]));
  return ids.map((id, i) => {
    const m = byId.get(id);
    const item = items[i] as TestEmail;
    return {
      id,
      step_id: item.stepId,
      step_type: item.stepType,
      variant: item.variant,
      template_id: item.templateId,
      subject: m?.subject ?? "",
      status: m?.status ?? "queued",
      reason: m?.reason ?? null,
      mailbox_url: config.RESEND_API_KEY ? null : `${config.PUBLIC_URL}/admin/mailbox/${encodeURIComponent(id)}`,
    };
  });
}

export const flowTestRoutes = createRouter().openapi(route, async (c) => {
  const db = c.var.db;
  const flow = await findFlow(db, c.req.valid("param").id);
  if (!flow) throw new ApiError(404, "not_found", "No such flow");
  const { to, contact: who } = c.req.valid("json");
  const contact = who ? await findContact(db, who) : sampleContact(Date.now());
  if (!contact) throw new ApiError(404, "not_found", "No such contact");
  return c.json({ messages: await sendFlowTest(c.env, db, c.var.config, flow, contact, to) }, 200);
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

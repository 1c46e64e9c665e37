/** Templates API: Liquid templates (SPEC section 7) saved only when every field parses, and previews rendered as sent. */
import { createRoute, z } from "@hono/zod-openapi";
import { findContact } from "../db/contacts";
import type { TemplateRow } from "../db/schema";
import { deleteTemplate, findTemplate, listTemplates, saveTemplate } from "../db/templates";
import { liquidProblems } from "../delivery/liquid";
import { renderPreview, SAMPLE_EVENT, sampleContact } from "../delivery/preview";
import { JsonObject } from "../flows/schema";
import { ApiError } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, isoTime } from "./shared-schemas";

const liquidText = (max: number) => z.string().max(max);

export const TemplateInput = z
  .object({
    subject: liquidText(1000).min(1),
    html: liquidText(512 * 1024).min(1),
    text: liquidText(256 * 1024)
      .nullable()
      .optional(),
    from: liquidText(300).nullable().optional().openapi({ example: "Tea Shop <hello@tea.example>" }),
    reply_to: liquidText(300).nullable().optional(),
    preheader: liquidText(500).nullable().optional(),
  })
  .strict()
  .openapi("TemplateInput");
export type TemplateInput = z.infer<typeof TemplateInput>;

const Template = TemplateInput.extend({
  id: z.string(),
  text: z.string().nullable(),
  from: z.string().nullable(),
  reply_to: z.string().nullable(),
  preheader: z.string().nullable(),
  from_library: z.boolean().openapi({ description: "Installed from the flow library and not edited since" }),
  created_at: isoTime,
  updated_at: isoTime,
}).openapi("Template");

function templateView(t: TemplateRow): z.infer<typeof Template> {
  return {
    id: t.id,
    subject: t.subject,
    html: t.html,
    text: t.text,
    from: t.from,
    reply_to: t.replyTo,
    preheader: t.preheader,
    from_library: t.libraryHash !== null,
    created_at: new Date(t.createdAt).toISOString(),
    updated_at: new Date(t.updatedAt).toISOString(),
  };
}

/** Rejects a template whose Liquid does not parse, listing every field that fails. */
export function assertLiquidParses(input: TemplateInput): void {
  const problems = liquidProblems(input);
  if (problems.length > 0) {
    throw new ApiError(
      422,
      "invalid_template",
      "The template's Liquid does not parse",
      problems.map((p) => ({ ...p, code: "liquid_syntax" })),
    );
  }
}

const PreviewInput = z
  .object({
    contact: z.string().min(1).max(254).optional().openapi({ description: "A contact id or email; a sample contact when absent" }),
    event: z
      .object({
        name: z.string().min(1).max(100),
        properties: JsonObject.default({}),
        value: z.number().nullable().default(null),
      })
      .optional()
      .openapi({ description: "The triggering event the template reads as `event`; a sample cart when absent" }),
    template: TemplateInput.optional().openapi({ description: "Unsaved content to preview instead of the stored template" }),
  })
  .strict()
  .openapi("PreviewInput");

const Preview = z
  .object({
    subject: z.string(),
    from: z.string(),
    reply_to: z.string().nullable(),
    html: z.string(),
    text: z.string(),
    headers: z.record(z.string(), z.string()),
    links: z.array(z.string()),
  })
  .openapi("Preview");

/** A template id as it may be created: 1-100 letters, digits, '.', '-' or '_' (the API and the dashboard editor). */
export const TemplateId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "Template ids are 1-100 letters, digits, '.', '-' or '_'");

const idParam = z.object({
  id: TemplateId.openapi({ param: { name: "id", in: "path" }, example: "welcome-1" }),
});
const notFound = jsonResponse(ErrorSchema, "No such template");

const routes = {
  list: createRoute({
    method: "get",
    path: "/v1/templates",
    tags: ["templates"],
    summary: "All templates",
    responses: { 200: jsonResponse(z.object({ templates: z.array(Template) }), "The templates") },
  }),
  get: createRoute({
    method: "get",
    path: "/v1/templates/{id}",
    tags: ["templates"],
    summary: "A template",
    request: { params: idParam },
    responses: { 200: jsonResponse(Template, "The template"), 404: notFound },
  }),
  put: createRoute({
    method: "put",
    path: "/v1/templates/{id}",
    tags: ["templates"],
    summary: "Create or replace a template (422 when its Liquid does not parse)",
    request: { params: idParam, body: jsonBody(TemplateInput) },
    responses: {
      200: jsonResponse(Template, "Replaced"),
      201: jsonResponse(Template, "Created"),
      422: jsonResponse(ErrorSchema, "Invalid"),
    },
  }),
  delete: createRoute({
    method: "delete",
    path: "/v1/templates/{id}",
    tags: ["templates"],
    summary: "Delete a template (flows using it fail their sends until it exists again)",
    request: { params: idParam },
    responses: { 204: { description: "Deleted" }, 404: notFound },
  }),
  preview: createRoute({
    method: "post",
    path: "/v1/templates/{id}/preview",
    tags: ["templates"],
    summary: "Render a template for a contact or sample data, exactly as it would be sent",
    request: { params: idParam, body: jsonBody(PreviewInput) },
    responses: { 200: jsonResponse(Preview, "The rendered email"), 404: notFound, 422: jsonResponse(ErrorSchema, "Invalid") },
  }),
};

export const templateRoutes = createRouter()
  .openapi(routes.list, async (c) => c.json({ templates: (await listTemplates(c.var.db)).map(templateView) }, 200))
  .openapi(routes.get, async (c) => {
    const template = await findTemplate(c.var.db, c.req.valid("param").id);
    if (!template) throw new ApiError(404, "not_found", "No such template");
    return c.json(templateView(template), 200);
  })
  .openapi(routes.put, async (c) => {
    const input = c.req.valid("json");
    assertLiquidParses(input);
    const { template, created } = await saveTemplate(c.var.db, c.req.valid("param").id, toContent(input), Date.now());
    return c.json(templateView(template), created ? 201 : 200);
  })
  .openapi(routes.delete, async (c) => {
    if (!(await deleteTemplate(c.var.db, c.req.valid("param").id))) throw new ApiError(404, "not_found", "No such template");
    return c.body(null, 204);
  })
  .openapi(routes.preview, async (c) => {
    const id = c.req.valid("param").id;
    const input = c.req.valid("json");
    const now = Date.now();
    let template = await findTemplate(c.var.db, id);
    if (input.template) {
      assertLiquidParses(input.template);
      template = { id, ...toContent(input.template), libraryHash: null, createdAt: now, updatedAt: now } as TemplateRow;
    }
    if (!template) throw new ApiError(404, "not_found", "No such template");
    const contact = input.contact ? await findContact(c.var.db, input.contact) : sampleContact(now);
    if (!contact) throw new ApiError(404, "not_found", "No such contact");
    const email = await renderPreview(template, contact, c.var.config, input.event ?? SAMPLE_EVENT, now);
    return c.json(
      {
        subject: email.subject,
        from: email.from,
        reply_to: email.replyTo,
        html: email.html,
        text: email.text,
        headers: email.headers,
        links: email.links,
      },
      200,
    );
  });

/** API field names to the stored content's. */
export function toContent(input: TemplateInput) {
  return {
    subject: input.subject,
    html: input.html,
    text: input.text ?? null,
    from: input.from ?? null,
    replyTo: input.reply_to ?? null,
    preheader: input.preheader ?? null,
  };
}

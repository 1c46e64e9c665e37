/**
 * Flows API: definitions (validated in full, every problem reported at once),
 * versions, activation and pausing. Storage goes through db/flows; waking the
 * contacts a paused flow was holding goes through contact/flow-control.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { switchFlowStatus } from "../contact/flow-control";
import type { Database } from "../db/client";
import { deleteFlow, existingTemplateIds, findFlow, listFlows, type StoredFlow, saveFlow } from "../db/flows";
import { FLOW_STATUSES } from "../db/schema";
import { liquidProblems } from "../delivery/liquid";
import { Flow } from "../flows/schema";
import { graphOfUnparsed, templatesOf, validateFlowGraph } from "../flows/validate";
import { type WebhookPolicy, webhookPolicy } from "../flows/webhook-url";
import type { AppEnv } from "./context";
import { ApiError, type ErrorIssue, validationError, zodIssues } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, isoTime } from "./shared-schemas";

/** A stored flow as the API answers it. */
export const StoredFlowView = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(FLOW_STATUSES),
    version: z.number().int(),
    definition: Flow,
    created_at: isoTime,
    updated_at: isoTime,
  })
  .openapi("StoredFlow");

const FlowSummary = StoredFlowView.omit({ definition: true })
  .extend({ trigger: z.record(z.string(), z.unknown()) })
  .openapi("FlowSummary");

/** The API view of a stored flow. */
export function flowView(f: StoredFlow): z.infer<typeof StoredFlowView> {
  return {
    id: f.id,
    name: f.name,
    status: f.status,
    version: f.version,
    definition: f.definition,
    created_at: new Date(f.createdAt).toISOString(),
    updated_at: new Date(f.updatedAt).toISOString(),
  };
}

/** The `{id}` path parameter of every flow route. */
export const idParam = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "Flow ids are 1-64 letters, digits, '-' or '_'")
    .openapi({ param: { name: "id", in: "path" }, example: "welcome" }),
});
const notFound = jsonResponse(ErrorSchema, "No such flow");

const FlowDeleted = z
  .object({
    deleted: z.literal(true),
    cancelled_messages: z.number().int().openapi({ description: "Queued messages of the flow, now cancelled" }),
    ended_enrollments: z.number().int().openapi({ description: "Running enrollments, which end at their next input" }),
  })
  .openapi("FlowDeleted");

const routes = {
  list: createRoute({
    method: "get",
    path: "/v1/flows",
    tags: ["flows"],
    summary: "All flows",
    responses: { 200: jsonResponse(z.object({ flows: z.array(FlowSummary) }), "The flows") },
  }),
  get: createRoute({
    method: "get",
    path: "/v1/flows/{id}",
    tags: ["flows"],
    summary: "A flow's current definition",
    request: { params: idParam },
    responses: { 200: jsonResponse(StoredFlowView, "The flow"), 404: notFound },
  }),
  put: createRoute({
    method: "put",
    path: "/v1/flows/{id}",
    tags: ["flows"],
    summary: "Create or replace a flow (a new version); every problem is reported at once",
    request: { params: idParam, body: jsonBody(Flow) },
    responses: {
      200: jsonResponse(StoredFlowView, "Saved as a new version"),
      201: jsonResponse(StoredFlowView, "Created (as a draft)"),
      422: jsonResponse(ErrorSchema, "The definition is invalid"),
    },
  }),
  validate: createRoute({
    method: "post",
    path: "/v1/flows/{id}/validate",
    tags: ["flows"],
    summary: "Check a definition as PUT would, saving nothing: the editor shows its problems before a save",
    request: { params: idParam, body: jsonBody(Flow) },
    responses: {
      200: jsonResponse(z.object({ valid: z.literal(true) }), "PUT would accept it"),
      422: jsonResponse(ErrorSchema, "The definition is invalid: the same problems PUT would answer"),
    },
  }),
  delete: createRoute({
    method: "delete",
    path: "/v1/flows/{id}",
    tags: ["flows"],
    summary: "Delete a flow; its queued messages are cancelled and its running enrollments end",
    request: { params: idParam },
    responses: { 200: jsonResponse(FlowDeleted, "Deleted, with what it cancelled"), 404: notFound },
  }),
  activate: createRoute({
    method: "post",
    path: "/v1/flows/{id}/activate",
    tags: ["flows"],
    summary: "Start enrolling contacts and resume held enrollments",
    request: { params: idParam },
    responses: { 200: jsonResponse(StoredFlowView, "Active"), 404: notFound },
  }),
  pause: createRoute({
    method: "post",
    path: "/v1/flows/{id}/pause",
    tags: ["flows"],
    summary: "Enroll nobody and hold running enrollments where they are",
    request: { params: idParam },
    responses: { 200: jsonResponse(StoredFlowView, "Paused"), 404: notFound },
  }),
};

/** The graph problems of a definition, the templates it names looked up in D1. */
export async function graphProblems(db: Database, definition: Flow, webhooks: WebhookPolicy): Promise<ErrorIssue[]> {
  const known = await existingTemplateIds(
    db,
    templatesOf(definition).map((t) => t.template),
  );
  const graph = validateFlowGraph(definition, known, webhooks).map((p) => ({ path: p.path, code: p.reason, message: p.message }));
  return [...graph, ...variantSubjectProblems(definition)];
}

/** Subject-line variants whose Liquid does not parse (a template's subject is checked when the template is saved). */
function variantSubjectProblems(definition: Flow): ErrorIssue[] {
  return definition.steps.flatMap((step, i) =>
    step.type !== "email"
      ? []
      : (step.variants ?? []).flatMap((v, j) =>
          liquidProblems({ subject: v.subject }).map((p) => ({
            path: ["steps", i, "variants", j, "subject"],
            code: "liquid_syntax",
            message: p.message,
          })),
        ),
  );
}

/** Throws the 422 PUT answers for a schema-valid definition whose id or graph is wrong: the one check of PUT and validate. */
async function assertSavable(c: Context<AppEnv>, id: string, definition: Flow): Promise<void> {
  if (definition.id !== undefined && definition.id !== id) {
    throw new ApiError(422, "validation_failed", "The flow is invalid", [
      { path: ["id"], code: "id_mismatch", message: `The body's id "${definition.id}" differs from the URL's "${id}"` },
    ]);
  }
  const problems = await graphProblems(c.var.db, definition, webhookPolicy(c.var.config.PUBLIC_URL));
  if (problems.length > 0) throw new ApiError(422, "validation_failed", "The flow is invalid", problems);
}

/** Rejects a body that failed the schema with its schema issues and, when its steps can be read, its graph problems too. */
async function rejectWithEveryProblem(c: Context<AppEnv>, error: z.ZodError, raw: unknown): Promise<never> {
  const graph = graphOfUnparsed(raw);
  const issues = [...zodIssues(error), ...(graph ? await graphProblems(c.var.db, graph, webhookPolicy(c.var.config.PUBLIC_URL)) : [])];
  throw new ApiError(422, "validation_failed", "The body is invalid", issues);
}

/** The PUT route's validation hook: one 422 lists every problem; other targets fail as usual. */
function reportEveryProblem(result: { success: true } | { success: false; error: z.ZodError; target: string }, c: Context<AppEnv>) {
  if (result.success) return undefined;
  if (result.target !== "json") throw validationError(result.error, result.target);
  // zod-validator hands the hook the raw value it validated next to the result.
  return rejectWithEveryProblem(c, result.error, (result as { data?: unknown }).data);
}

export const flowRoutes = createRouter()
  .openapi(routes.list, async (c) => {
    const all = await listFlows(c.var.db);
    const summaries = all.map((f) => {
      const { definition, ...view } = flowView(f);
      return { ...view, trigger: definition.trigger as Record<string, unknown> };
    });
    return c.json({ flows: summaries }, 200);
  })
  .openapi(routes.get, async (c) => {
    const flow = await findFlow(c.var.db, c.req.valid("param").id);
    if (!flow) throw new ApiError(404, "not_found", "No such flow");
    return c.json(flowView(flow), 200);
  })
  .openapi(
    routes.put,
    async (c) => {
      const { id } = c.req.valid("param");
      const definition = c.req.valid("json");
      await assertSavable(c, id, definition);
      const { flow, created } = await saveFlow(c.var.db, id, definition, Date.now());
      return c.json(flowView(flow), created ? 201 : 200);
    },
    reportEveryProblem,
  )
  .openapi(
    routes.validate,
    async (c) => {
      await assertSavable(c, c.req.valid("param").id, c.req.valid("json"));
      return c.json({ valid: true as const }, 200);
    },
    reportEveryProblem,
  )
  .openapi(routes.delete, async (c) => {
    const deleted = await deleteFlow(c.var.db, c.req.valid("param").id);
    if (!deleted) throw new ApiError(404, "not_found", "No such flow");
    return c.json(
      { deleted: true as const, cancelled_messages: deleted.cancelledMessages, ended_enrollments: deleted.endedEnrollments },
      200,
    );
  })
  .openapi(routes.activate, async (c) => {
    const flow = await switchFlowStatus(c.env, c.var.db, c.executionCtx, c.req.valid("param").id, "active");
    if (!flow) throw new ApiError(404, "not_found", "No such flow");
    return c.json(flowView(flow), 200);
  })
  .openapi(routes.pause, async (c) => {
    const flow = await switchFlowStatus(c.env, c.var.db, c.executionCtx, c.req.valid("param").id, "paused");
    if (!flow) throw new ApiError(404, "not_found", "No such flow");
    return c.json(flowView(flow), 200);
  });

/**
 * A flow's life after its first save, for the API and the dashboard alike:
 * its versions with what changed between them and restoring one, duplicating
 * it, what an edit would do to running contacts, how many contacts a
 * segment, date or inactivity trigger would start for now, and the contacts
 * on each step. Storage goes through db/flows, db/flow-runs and
 * db/entry-count; change descriptions come from the pure flows/diff.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Database } from "../db/client";
import { countEntrants, DATE_WINDOW_DAYS, isCountable } from "../db/entry-count";
import { contactsOnStep, runningByStep } from "../db/flow-runs";
import { duplicateFlow, findFlow, findFlowVersion, flowVersionsPage, type StoredFlow, saveFlow } from "../db/flows";
import { findSegmentCondition } from "../db/segments";
import { describeChanges, FlowChanges, flowChanges } from "../flows/diff";
import { Flow, Trigger } from "../flows/schema";
import { type WebhookPolicy, webhookPolicy } from "../flows/webhook-url";
import { ApiError, type ErrorIssue, zodIssues } from "./errors";
import { flowView, graphProblems, idParam, StoredFlowView } from "./flows";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, isoTime } from "./shared-schemas";

const iso = (ms: number) => new Date(ms).toISOString();

const VersionSummary = z
  .object({
    version: z.number().int(),
    saved_at: isoTime,
    current: z.boolean(),
    changes: FlowChanges.nullable().openapi({ description: "Against the version before it; null for the first one kept" }),
    summary: z.string().openapi({ example: "added step nudge; changed settings.quiet_hours" }),
  })
  .openapi("FlowVersionSummary");
export type VersionSummary = z.infer<typeof VersionSummary>;

const VersionList = z
  .object({
    versions: z.array(VersionSummary),
    next_cursor: z.number().int().nullable().openapi({ description: "Pass as `before` for the older versions; null at the first" }),
  })
  .openapi("FlowVersionList");

const FlowVersionView = z
  .object({ version: z.number().int(), saved_at: isoTime, current: z.boolean(), definition: Flow })
  .openapi("FlowVersion");

const EditImpact = z
  .object({
    running: z.number().int().openapi({ description: "Contacts running in the flow now" }),
    removed_steps: z.array(z.string()),
    on_removed_steps: z
      .array(z.object({ step: z.string(), contacts: z.number().int() }))
      .openapi({ description: "Running contacts on each step the draft removes; they exit with reason step_removed" }),
    affected: z.number().int().openapi({ description: "Running contacts on removed steps, in all" }),
    changes: FlowChanges,
    summary: z.string(),
  })
  .openapi("FlowEditImpact");
export type EditImpact = z.infer<typeof EditImpact>;

const EntryCountView = z
  .object({
    count: z.number().int().openapi({ description: "Contacts who would enter now" }),
    subscribed: z.number().int().openapi({ description: "Of them, those who may get marketing mail (consent subscribed)" }),
    window: z
      .object({ from: isoTime, to: isoTime })
      .nullable()
      .openapi({ description: `Date triggers: the ${DATE_WINDOW_DAYS} days (UTC) whose dates are counted` }),
    explanation: z.string(),
  })
  .openapi("FlowEntryCount");
export type EntryCountView = z.infer<typeof EntryCountView>;

const ContactOnStepView = z
  .object({ enrollment_id: z.string(), contact_id: z.string(), email: z.string().nullable(), entered_at: isoTime })
  .openapi("FlowContactOnStep");

const versionParams = idParam.extend({
  version: z.coerce
    .number()
    .int()
    .min(1)
    .max(1_000_000_000)
    .openapi({ param: { name: "version", in: "path" }, example: 3 }),
});
const stepParams = idParam.extend({
  step: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "Step ids are 1-64 letters, digits, '-' or '_'")
    .openapi({ param: { name: "step", in: "path" }, example: "hello" }),
});
const notFound = jsonResponse(ErrorSchema, "No such flow, version or step");
const invalid = jsonResponse(ErrorSchema, "Invalid");

/** Versions listed per page at most. */
export const MAX_VERSIONS_PAGE = 100;
/** Contacts listed per page at most. */
export const MAX_STEP_CONTACTS_PAGE = 200;

const routes = {
  versions: createRoute({
    method: "get",
    path: "/v1/flows/{id}/versions",
    tags: ["flows"],
    summary: "The flow's saved versions, newest first, each with what changed against the one before",
    request: {
      params: idParam,
      query: z.object({
        before: z.coerce.number().int().min(1).optional().openapi({ description: "The next_cursor of the previous page" }),
        limit: z.coerce.number().int().min(1).max(MAX_VERSIONS_PAGE).default(20),
      }),
    },
    responses: { 200: jsonResponse(VersionList, "A page of versions"), 404: notFound },
  }),
  version: createRoute({
    method: "get",
    path: "/v1/flows/{id}/versions/{version}",
    tags: ["flows"],
    summary: "One saved version's definition",
    request: { params: versionParams },
    responses: { 200: jsonResponse(FlowVersionView, "The version"), 404: notFound },
  }),
  restore: createRoute({
    method: "post",
    path: "/v1/flows/{id}/versions/{version}/restore",
    tags: ["flows"],
    summary: "Save an older version as the flow's new version (validated as a PUT is)",
    request: { params: versionParams },
    responses: {
      200: jsonResponse(StoredFlowView, "Restored as a new version"),
      404: notFound,
      422: jsonResponse(ErrorSchema, "That version is no longer valid (e.g. a template it names was deleted)"),
    },
  }),
  duplicate: createRoute({
    method: "post",
    path: "/v1/flows/{id}/duplicate",
    tags: ["flows"],
    summary: "Copy the flow as a new draft named '… (copy)' under the id '<id>-copy' (or the next free one)",
    request: { params: idParam },
    responses: { 201: jsonResponse(StoredFlowView, "The copy, a draft"), 404: notFound },
  }),
  impact: createRoute({
    method: "post",
    path: "/v1/flows/{id}/impact",
    tags: ["flows"],
    summary: "What saving this draft would do to running contacts (nothing is saved)",
    request: { params: idParam, body: jsonBody(Flow) },
    responses: { 200: jsonResponse(EditImpact, "The impact"), 404: notFound, 422: invalid },
  }),
  entryCount: createRoute({
    method: "post",
    path: "/v1/flows/entry-count",
    tags: ["flows"],
    summary: "How many contacts a segment, date or inactivity trigger would start a flow for now",
    request: { body: jsonBody(z.object({ trigger: Trigger }).strict().openapi("FlowEntryCountInput")) },
    responses: { 200: jsonResponse(EntryCountView, "The count"), 422: invalid },
  }),
  flowEntryCount: createRoute({
    method: "get",
    path: "/v1/flows/{id}/entry-count",
    tags: ["flows"],
    summary: "How many contacts the flow's segment, date or inactivity trigger would start it for now",
    request: { params: idParam },
    responses: { 200: jsonResponse(EntryCountView, "The count"), 404: notFound, 422: invalid },
  }),
  stepContacts: createRoute({
    method: "get",
    path: "/v1/flows/{id}/steps/{step}/contacts",
    tags: ["flows"],
    summary: "The contacts running on a step now, a page at a time",
    request: {
      params: stepParams,
      query: z.object({
        cursor: z.string().max(100).optional().openapi({ description: "The next_cursor of the previous page" }),
        limit: z.coerce.number().int().min(1).max(MAX_STEP_CONTACTS_PAGE).default(50),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ contacts: z.array(ContactOnStepView), next_cursor: z.string().nullable() }), "A page of contacts"),
      404: notFound,
    },
  }),
};

/** A page of a flow's versions, each described against the one saved before it. */
export async function versionSummaries(
  db: Database,
  flow: StoredFlow,
  limit: number,
  before?: number,
): Promise<{ versions: VersionSummary[]; nextCursor: number | null }> {
  // One more than the page, to describe the page's oldest version against its predecessor.
  const rows = await flowVersionsPage(db, flow.id, limit + 1, before);
  const page = rows.slice(0, limit);
  const versions = page.map((v, i) => {
    const previous = rows[i + 1];
    const changes = previous ? flowChanges(previous.definition, v.definition) : null;
    return {
      version: v.version,
      saved_at: iso(v.savedAt),
      current: v.version === flow.version,
      changes,
      summary: changes ? describeChanges(changes) : "first version kept",
    };
  });
  return { versions, nextCursor: rows.length > limit ? (page.at(-1)?.version ?? null) : null };
}

/** What saving `draft` over the flow would do to its running contacts. */
export async function editImpact(db: Database, flow: StoredFlow, draft: Flow): Promise<EditImpact> {
  const running = await runningByStep(db, flow.id);
  const changes = flowChanges(flow.definition, draft);
  const on = changes.steps_removed.map((step) => ({ step, contacts: running.get(step) ?? 0 })).filter((s) => s.contacts > 0);
  return {
    running: [...running.values()].reduce((a, b) => a + b, 0),
    removed_steps: changes.steps_removed,
    on_removed_steps: on,
    affected: on.reduce((a, s) => a + s.contacts, 0),
    changes,
    summary: describeChanges(changes),
  };
}

/** The outcome of restoring a version: the flow saved anew, no such version, or the problems that stop it. */
export type Restored = { ok: true; flow: StoredFlow } | { ok: false; missing: true } | { ok: false; missing: false; issues: ErrorIssue[] };

/** Saves an older version as the flow's next one, after the same validation as a PUT. */
export async function restoreFlowVersion(
  db: Database,
  id: string,
  version: number,
  webhooks: WebhookPolicy,
  now: number,
): Promise<Restored> {
  const saved = await findFlowVersion(db, id, version);
  if (!saved || !(await findFlow(db, id))) return { ok: false, missing: true };
  // Versions were stored under the schema of their day; one the current schema refuses is reported, not restored.
  const parsed = Flow.safeParse(saved.definition);
  if (!parsed.success) return { ok: false, missing: false, issues: zodIssues(parsed.error) };
  const problems = await graphProblems(db, parsed.data, webhooks);
  if (problems.length > 0) return { ok: false, missing: false, issues: problems };
  return { ok: true, flow: (await saveFlow(db, id, parsed.data, now)).flow };
}

/** Counts the contacts a trigger would start for now; undefined for event and attribute triggers, which no count answers. */
export async function entryCountOf(db: Database, trigger: Trigger, now: number): Promise<EntryCountView | undefined> {
  if (!isCountable(trigger)) return undefined;
  const segment = "segment_entered" in trigger ? await findSegmentCondition(db, trigger.segment_entered) : null;
  const counted = await countEntrants(db, trigger, segment ?? null, now);
  const explanation =
    "segment_entered" in trigger
      ? segment
        ? `Contacts in segment ${trigger.segment_entered} now`
        : `There is no segment ${trigger.segment_entered}`
      : "date" in trigger
        ? `Contacts whose ${trigger.date.attribute}${trigger.date.offset ? ` ${trigger.date.offset}` : ""} falls in the next ${DATE_WINDOW_DAYS} days${trigger.date.repeat === "yearly" ? " (any year)" : ""}`
        : `Contacts with no open or click for ${trigger.inactive_for}`;
  return {
    count: counted.count,
    subscribed: counted.subscribed,
    window: counted.window ? { from: iso(counted.window.from), to: iso(counted.window.to) } : null,
    explanation,
  };
}

const notCountable = () =>
  new ApiError(422, "not_countable", "Only segment, date and inactivity triggers have an entry count: an event trigger starts on events");

async function flowOr404(db: Database, id: string): Promise<StoredFlow> {
  const flow = await findFlow(db, id);
  if (!flow) throw new ApiError(404, "not_found", "No such flow");
  return flow;
}

export const flowLifecycleRoutes = createRouter()
  .openapi(routes.entryCount, async (c) => {
    const counted = await entryCountOf(c.var.db, c.req.valid("json").trigger, Date.now());
    if (!counted) throw notCountable();
    return c.json(counted, 200);
  })
  .openapi(routes.versions, async (c) => {
    const flow = await flowOr404(c.var.db, c.req.valid("param").id);
    const { before, limit } = c.req.valid("query");
    const page = await versionSummaries(c.var.db, flow, limit, before);
    return c.json({ versions: page.versions, next_cursor: page.nextCursor }, 200);
  })
  .openapi(routes.version, async (c) => {
    const { id, version } = c.req.valid("param");
    const flow = await flowOr404(c.var.db, id);
    const saved = await findFlowVersion(c.var.db, id, version);
    if (!saved) throw new ApiError(404, "not_found", `Flow ${id} has no version ${version}`);
    return c.json(
      { version: saved.version, saved_at: iso(saved.savedAt), current: saved.version === flow.version, definition: saved.definition },
      200,
    );
  })
  .openapi(routes.restore, async (c) => {
    const { id, version } = c.req.valid("param");
    const restored = await restoreFlowVersion(c.var.db, id, version, webhookPolicy(c.var.config.PUBLIC_URL), Date.now());
    if (restored.ok) return c.json(flowView(restored.flow), 200);
    if (restored.missing) throw new ApiError(404, "not_found", `Flow ${id} has no version ${version}`);
    throw new ApiError(422, "validation_failed", "That version is no longer a valid flow", restored.issues);
  })
  .openapi(routes.duplicate, async (c) => {
    const flow = await flowOr404(c.var.db, c.req.valid("param").id);
    return c.json(flowView(await duplicateFlow(c.var.db, flow, Date.now())), 201);
  })
  .openapi(routes.impact, async (c) => {
    const flow = await flowOr404(c.var.db, c.req.valid("param").id);
    return c.json(await editImpact(c.var.db, flow, c.req.valid("json")), 200);
  })
  .openapi(routes.flowEntryCount, async (c) => {
    const flow = await flowOr404(c.var.db, c.req.valid("param").id);
    const counted = await entryCountOf(c.var.db, flow.definition.trigger, Date.now());
    if (!counted) throw notCountable();
    return c.json(counted, 200);
  })
  .openapi(routes.stepContacts, async (c) => {
    const { id, step } = c.req.valid("param");
    const flow = await flowOr404(c.var.db, id);
    if (!flow.definition.steps.some((s) => s.id === step)) throw new ApiError(404, "not_found", `Flow ${id} has no step ${step}`);
    const { cursor, limit } = c.req.valid("query");
    const rows = await contactsOnStep(c.var.db, id, step, limit + 1, cursor);
    const page = rows.slice(0, limit);
    return c.json(
      {
        contacts: page.map((r) => ({
          enrollment_id: r.enrollmentId,
          contact_id: r.contactId,
          email: r.email,
          entered_at: iso(r.enteredAt),
        })),
        next_cursor: rows.length > limit ? (page.at(-1)?.enrollmentId ?? null) : null,
      },
      200,
    );
  });

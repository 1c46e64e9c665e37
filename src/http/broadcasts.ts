/**
 * Broadcasts API (SPEC section 10): definitions checked in full (every problem
 * reported at once), sending now or at `send_at`, cancelling, and the report.
 * The fan-out itself runs from the cron (broadcasts/run); this module only
 * validates, authorises and hands over.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { HELD_UNTIL_WINNER, sampleProblem, VARIANT_NAMES } from "../broadcasts/plan";
import { audienceOf, SMART_SENDING_REASON } from "../broadcasts/run";
import { BroadcastInput, StoredBroadcast } from "../broadcasts/schema";
import { sendBroadcastTest, TestSendProblem, type TestSent } from "../broadcasts/test-send";
import {
  cancelUnsent,
  countAudience,
  deleteBroadcast,
  findBroadcast,
  listBroadcasts,
  messageOutcomes,
  moveBroadcast,
  saveBroadcast,
} from "../db/broadcasts";
import type { Database } from "../db/client";
import { existingTemplateIds } from "../db/flows";
import { BROADCAST_STATUSES, type BroadcastRow } from "../db/schema";
import { findSegmentCondition } from "../db/segments";
import type { Config, Env } from "../env";
import { type BroadcastOutcomes, BroadcastStats, broadcastStats } from "../reports/broadcasts";
import { ApiError, type ErrorIssue } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, emailInput, isoTime } from "./shared-schemas";

const Broadcast = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(BROADCAST_STATUSES),
    definition: BroadcastInput,
    send_at: isoTime.nullable(),
    started_at: isoTime.nullable(),
    finished_at: isoTime.nullable(),
    audience_fixed: z.number().int().openapi({ description: "Contacts queued so far, as the audience is fixed page by page" }),
    audience_complete: z.boolean().openapi({ description: "The whole audience is queued" }),
    winner: z.record(z.string(), z.unknown()).nullable(),
    created_at: isoTime,
    updated_at: isoTime,
  })
  .openapi("Broadcast");

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function broadcastView(b: BroadcastRow): z.infer<typeof Broadcast> {
  return {
    id: b.id,
    name: b.name,
    status: b.status,
    definition: b.definition as BroadcastInput,
    send_at: iso(b.sendAt),
    started_at: iso(b.startedAt),
    finished_at: iso(b.finishedAt),
    audience_fixed: b.fixed,
    audience_complete: b.fannedOutAt !== null,
    winner: b.winner ?? null,
    created_at: new Date(b.createdAt).toISOString(),
    updated_at: new Date(b.updatedAt).toISOString(),
  };
}

/** A broadcast's id, as the URL names it. */
export const BroadcastId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "Broadcast ids are 1-64 letters, digits, '-' or '_'");

const idParam = z.object({
  id: BroadcastId.openapi({ param: { name: "id", in: "path" }, example: "spring-sale" }),
});
const notFound = jsonResponse(ErrorSchema, "No such broadcast");
const conflict = jsonResponse(ErrorSchema, "Not possible in the broadcast's current status");
const invalid = jsonResponse(ErrorSchema, "Invalid, with every problem listed");

const SendResult = z
  .object({ broadcast: Broadcast, audience: z.number().int().openapi({ description: "Who would receive it now" }) })
  .openapi("BroadcastSendResult");

/** A test send's address. */
export const BroadcastTestInput = z.object({ to: emailInput }).strict().openapi("BroadcastTestInput");

const BroadcastTestResult = z
  .object({
    messages: z.array(
      z.object({ id: z.string(), variant: z.string().nullable(), subject: z.string(), status: z.string(), reason: z.string().nullable() }),
    ),
  })
  .openapi("BroadcastTestResult");

const routes = {
  list: createRoute({
    method: "get",
    path: "/v1/broadcasts",
    tags: ["broadcasts"],
    summary: "All broadcasts",
    responses: { 200: jsonResponse(z.object({ broadcasts: z.array(Broadcast) }), "The broadcasts") },
  }),
  get: createRoute({
    method: "get",
    path: "/v1/broadcasts/{id}",
    tags: ["broadcasts"],
    summary: "A broadcast",
    request: { params: idParam },
    responses: { 200: jsonResponse(Broadcast, "The broadcast"), 404: notFound },
  }),
  put: createRoute({
    method: "put",
    path: "/v1/broadcasts/{id}",
    tags: ["broadcasts"],
    summary: "Create or replace a draft or scheduled broadcast",
    request: { params: idParam, body: jsonBody(BroadcastInput) },
    responses: { 200: jsonResponse(Broadcast, "Replaced"), 201: jsonResponse(Broadcast, "Created"), 409: conflict, 422: invalid },
  }),
  delete: createRoute({
    method: "delete",
    path: "/v1/broadcasts/{id}",
    tags: ["broadcasts"],
    summary: "Delete a broadcast that is not sending (its messages stay in the history)",
    request: { params: idParam },
    responses: { 204: { description: "Deleted" }, 404: notFound, 409: conflict },
  }),
  send: createRoute({
    method: "post",
    path: "/v1/broadcasts/{id}/send",
    tags: ["broadcasts"],
    summary: "Send a draft now, or schedule it for its send_at",
    request: { params: idParam },
    responses: { 200: jsonResponse(SendResult, "Sending or scheduled"), 404: notFound, 409: conflict, 422: invalid },
  }),
  cancel: createRoute({
    method: "post",
    path: "/v1/broadcasts/{id}/cancel",
    tags: ["broadcasts"],
    summary: "Stop a broadcast: every message not yet handed to the provider is cancelled",
    request: { params: idParam },
    responses: {
      200: jsonResponse(z.object({ broadcast: Broadcast, cancelled: z.number().int() }), "Cancelled"),
      404: notFound,
      409: conflict,
    },
  }),
  test: createRoute({
    method: "post",
    path: "/v1/broadcasts/{id}/test",
    tags: ["broadcasts"],
    summary: "Send each version of the broadcast (every A/B variant) to a test address now, marked [Test]; it counts nowhere",
    request: { params: idParam, body: jsonBody(BroadcastTestInput) },
    responses: { 200: jsonResponse(BroadcastTestResult, "The test messages and how each ended"), 404: notFound, 422: invalid },
  }),
  stats: createRoute({
    method: "get",
    path: "/v1/broadcasts/{id}/stats",
    tags: ["broadcasts"],
    summary: "A broadcast's numbers, per variant, with the A/B result",
    request: { params: idParam },
    responses: { 200: jsonResponse(BroadcastStats, "The report"), 404: notFound },
  }),
};

/** Every problem a definition has that its schema cannot see: unknown templates or segment, a send_at in the past. */
export async function definitionProblems(db: Database, input: BroadcastInput, now: number): Promise<ErrorIssue[]> {
  const issues: ErrorIssue[] = [];
  const wanted = [input.template, ...(input.ab_test?.variants.flatMap((v) => (v.template ? [v.template] : [])) ?? [])];
  const known = await existingTemplateIds(db, wanted);
  if (!known.has(input.template)) issues.push({ path: ["template"], code: "unknown_template", message: `No template ${input.template}` });
  input.ab_test?.variants.forEach((v, i) => {
    if (v.template && !known.has(v.template))
      issues.push({ path: ["ab_test", "variants", i, "template"], code: "unknown_template", message: `No template ${v.template}` });
  });
  if ("segment" in input.audience && typeof input.audience.segment === "string") {
    if (!(await findSegmentCondition(db, input.audience.segment)))
      issues.push({ path: ["audience", "segment"], code: "unknown_segment", message: `No segment ${input.audience.segment}` });
  }
  if (input.send_at !== undefined && Date.parse(input.send_at) <= now)
    issues.push({ path: ["send_at"], code: "send_at_past", message: "send_at is in the past" });
  return issues;
}

function problems(issues: ErrorIssue[]): ApiError {
  return new ApiError(422, "validation_failed", "The broadcast is invalid", issues);
}

async function mustFind(db: Database, id: string): Promise<BroadcastRow> {
  const row = await findBroadcast(db, id);
  if (!row) throw new ApiError(404, "not_found", "No such broadcast");
  return row;
}

/** How many contacts would receive the broadcast if it were sent now, after consent and suppression. */
export async function audienceNow(db: Database, input: Pick<BroadcastInput, "audience">, now: number): Promise<number> {
  const audience = await audienceOf(db, input, now);
  return audience ? countAudience(db, audience) : 0;
}

/** Checks a definition in full and stores it as a draft (new or replacing one); throws the 422 or 409 the API answers. */
export async function saveDraft(db: Database, id: string, input: BroadcastInput, now: number) {
  const issues = await definitionProblems(db, input, now);
  if (input.id !== undefined && input.id !== id)
    issues.push({ path: ["id"], code: "id_mismatch", message: "The body's id differs from the URL's" });
  if (issues.length > 0) throw problems(issues);
  const existing = await findBroadcast(db, id);
  if (existing && existing.status !== "draft")
    throw new ApiError(409, "not_editable", `A ${existing.status} broadcast cannot be edited; cancel it or create another`);
  const { id: _ignored, ...definition } = input;
  const sendAt = input.send_at === undefined ? null : Date.parse(input.send_at);
  return saveBroadcast(db, id, input.name, definition, sendAt, now);
}

/** Sends a draft now, or schedules it for its send_at, after checking it again; returns it and who would receive it now. */
export async function sendDraft(db: Database, id: string, now: number): Promise<{ broadcast: BroadcastRow; audience: number }> {
  const row = await mustFind(db, id);
  if (row.status !== "draft") throw new ApiError(409, "not_draft", `The broadcast is already ${row.status}`);
  const input = StoredBroadcast.parse(row.definition);
  const issues = await definitionProblems(db, input, now);
  const size = await audienceNow(db, input, now);
  const sampleIssue = input.ab_test ? sampleProblem(size, input.ab_test) : null;
  if (sampleIssue) issues.push({ path: ["ab_test", "sample_percent"], code: "sample_leaves_nobody", message: sampleIssue });
  if (issues.length > 0) throw problems(issues);
  const scheduled = row.sendAt !== null && row.sendAt > now;
  const moved = scheduled
    ? await moveBroadcast(db, row.id, ["draft"], "scheduled", now)
    : await moveBroadcast(db, row.id, ["draft"], "sending", now, { startedAt: now, sendAt: row.sendAt ?? now });
  if (!moved) throw new ApiError(409, "not_draft", "The broadcast was sent or changed meanwhile");
  return { broadcast: await mustFind(db, row.id), audience: size };
}

/** Cancels a draft, scheduled or sending broadcast and every message of it not yet handed to the provider. */
export async function cancelBroadcast(db: Database, id: string, now: number): Promise<{ broadcast: BroadcastRow; cancelled: number }> {
  const row = await mustFind(db, id);
  if (!(await moveBroadcast(db, row.id, ["draft", "scheduled", "sending"], "cancelled", now, { finishedAt: now })))
    throw new ApiError(409, "not_cancellable", `A ${row.status} broadcast cannot be cancelled`);
  // The status change stops the fan-out (its pages only apply while sending); these statements stop what it queued.
  let cancelled = 0;
  for (let n = -1; n !== 0; cancelled += n) n = await cancelUnsent(db, row.id, 5_000);
  return { broadcast: await mustFind(db, row.id), cancelled };
}

/** Sends the broadcast's test to `to`; a version that cannot be sent is the 422 the API answers. */
export async function testBroadcast(env: Env, db: Database, config: Config, id: string, to: string, now: number): Promise<TestSent[]> {
  const row = await mustFind(db, id);
  try {
    return await sendBroadcastTest(env, db, config, row, to, now);
  } catch (error) {
    if (error instanceof TestSendProblem) throw new ApiError(422, "unsendable", error.message);
    throw error;
  }
}

/** A broadcast's report: outcomes, totals, each variant and the A/B result. */
export async function broadcastReport(db: Database, row: BroadcastRow): Promise<BroadcastStats> {
  const input = StoredBroadcast.parse(row.definition);
  const test = input.ab_test
    ? {
        ...input.ab_test,
        variants: input.ab_test.variants.map((v, i) => ({
          name: VARIANT_NAMES[i]!,
          subject: v.subject ?? null,
          template: v.template ?? input.template,
        })),
      }
    : null;
  const outcomes: BroadcastOutcomes = await messageOutcomes(db, row.id, SMART_SENDING_REASON, HELD_UNTIL_WINNER);
  return broadcastStats(db, row, test, outcomes);
}

export const broadcastRoutes = createRouter()
  .openapi(routes.list, async (c) => c.json({ broadcasts: (await listBroadcasts(c.var.db)).map(broadcastView) }, 200))
  .openapi(routes.get, async (c) => c.json(broadcastView(await mustFind(c.var.db, c.req.valid("param").id)), 200))
  .openapi(routes.put, async (c) => {
    const { broadcast, created } = await saveDraft(c.var.db, c.req.valid("param").id, c.req.valid("json"), Date.now());
    return c.json(broadcastView(broadcast), created ? 201 : 200);
  })
  .openapi(routes.delete, async (c) => {
    const row = await mustFind(c.var.db, c.req.valid("param").id);
    if (row.status === "sending" || row.status === "scheduled")
      throw new ApiError(409, "not_deletable", `A ${row.status} broadcast must be cancelled before it is deleted`);
    await deleteBroadcast(c.var.db, row.id);
    return c.body(null, 204);
  })
  .openapi(routes.send, async (c) => {
    const { broadcast, audience } = await sendDraft(c.var.db, c.req.valid("param").id, Date.now());
    return c.json({ broadcast: broadcastView(broadcast), audience }, 200);
  })
  .openapi(routes.cancel, async (c) => {
    const { broadcast, cancelled } = await cancelBroadcast(c.var.db, c.req.valid("param").id, Date.now());
    return c.json({ broadcast: broadcastView(broadcast), cancelled }, 200);
  })
  .openapi(routes.test, async (c) => {
    const messages = await testBroadcast(c.env, c.var.db, c.var.config, c.req.valid("param").id, c.req.valid("json").to, Date.now());
    return c.json({ messages }, 200);
  })
  .openapi(routes.stats, async (c) => c.json(await broadcastReport(c.var.db, await mustFind(c.var.db, c.req.valid("param").id)), 200));

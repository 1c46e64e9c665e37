/** Segments API: saved conditions (SPEC section 5) and their members, listed page by page. */
import { createRoute, z } from "@hono/zod-openapi";
import {
  countMatching,
  deleteSegment,
  findSegment,
  listSegments,
  PREVIEW_COUNT_CAP,
  type SegmentRow,
  saveSegment,
  segmentMembers,
} from "../db/segments";
import { BoundedCondition, Condition } from "../flows/schema";
import { Contact, contactView } from "./contacts";
import { ApiError } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, isoTime } from "./shared-schemas";

const SegmentInput = z
  .object({ name: z.string().min(1).max(200), condition: BoundedCondition })
  .strict()
  .openapi("SegmentInput");
const Segment = z
  .object({ id: z.string(), name: z.string(), condition: Condition, created_at: isoTime, updated_at: isoTime })
  .openapi("Segment");

function segmentView(s: SegmentRow): z.infer<typeof Segment> {
  return {
    id: s.id,
    name: s.name,
    condition: s.condition as Condition,
    created_at: new Date(s.createdAt).toISOString(),
    updated_at: new Date(s.updatedAt).toISOString(),
  };
}

const idParam = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, "Segment ids are 1-64 letters, digits, '-' or '_'")
    .openapi({ param: { name: "id", in: "path" }, example: "vip" }),
});
const notFound = jsonResponse(ErrorSchema, "No such segment");

/** How many members a preview lists, in id order (the first page of `GET /v1/segments/:id/contacts`). */
const PREVIEW_SAMPLE = 10;

const SegmentPreview = z
  .object({
    count: z
      .number()
      .int()
      .openapi({ description: `Members now, counted up to ${PREVIEW_COUNT_CAP}` }),
    capped: z.boolean().openapi({ description: `True when there are more than ${PREVIEW_COUNT_CAP}: count is then the cap` }),
    contacts: z.array(Contact).openapi({ description: `The first ${PREVIEW_SAMPLE} members in id order` }),
  })
  .openapi("SegmentPreview");

const routes = {
  preview: createRoute({
    method: "post",
    path: "/v1/segments/preview",
    tags: ["segments"],
    summary: "Count a condition's members and list the first few, saving nothing (the segment editor's live count)",
    request: { body: jsonBody(z.object({ condition: BoundedCondition }).strict().openapi("SegmentPreviewInput")) },
    responses: { 200: jsonResponse(SegmentPreview, "The members now"), 422: jsonResponse(ErrorSchema, "Invalid") },
  }),
  list: createRoute({
    method: "get",
    path: "/v1/segments",
    tags: ["segments"],
    summary: "All segments",
    responses: { 200: jsonResponse(z.object({ segments: z.array(Segment) }), "The segments") },
  }),
  get: createRoute({
    method: "get",
    path: "/v1/segments/{id}",
    tags: ["segments"],
    summary: "A segment",
    request: { params: idParam },
    responses: { 200: jsonResponse(Segment, "The segment"), 404: notFound },
  }),
  put: createRoute({
    method: "put",
    path: "/v1/segments/{id}",
    tags: ["segments"],
    summary: "Create or replace a segment",
    request: { params: idParam, body: jsonBody(SegmentInput) },
    responses: { 200: jsonResponse(Segment, "Replaced"), 201: jsonResponse(Segment, "Created"), 422: jsonResponse(ErrorSchema, "Invalid") },
  }),
  delete: createRoute({
    method: "delete",
    path: "/v1/segments/{id}",
    tags: ["segments"],
    summary: "Delete a segment",
    request: { params: idParam },
    responses: { 204: { description: "Deleted" }, 404: notFound },
  }),
  members: createRoute({
    method: "get",
    path: "/v1/segments/{id}/contacts",
    tags: ["segments"],
    summary: "The segment's members, in pages",
    request: {
      params: idParam,
      query: z.object({
        limit: z.coerce.number().int().min(1).max(500).default(100),
        after: z.string().max(100).optional().openapi({ description: "The next_cursor of the previous page" }),
      }),
    },
    responses: {
      200: jsonResponse(z.object({ contacts: z.array(Contact), next_cursor: z.string().nullable() }), "One page of members"),
      404: notFound,
    },
  }),
};

export const segmentRoutes = createRouter()
  .openapi(routes.preview, async (c) => {
    const { condition } = c.req.valid("json");
    const now = Date.now();
    const [count, sample] = await Promise.all([
      countMatching(c.var.db, condition, now, PREVIEW_COUNT_CAP + 1),
      segmentMembers(c.var.db, condition, now, PREVIEW_SAMPLE),
    ]);
    return c.json({ count: Math.min(count, PREVIEW_COUNT_CAP), capped: count > PREVIEW_COUNT_CAP, contacts: sample.map(contactView) }, 200);
  })
  .openapi(routes.list, async (c) => c.json({ segments: (await listSegments(c.var.db)).map(segmentView) }, 200))
  .openapi(routes.get, async (c) => {
    const segment = await findSegment(c.var.db, c.req.valid("param").id);
    if (!segment) throw new ApiError(404, "not_found", "No such segment");
    return c.json(segmentView(segment), 200);
  })
  .openapi(routes.put, async (c) => {
    const { name, condition } = c.req.valid("json");
    const { segment, created } = await saveSegment(c.var.db, c.req.valid("param").id, name, condition, Date.now());
    return c.json(segmentView(segment), created ? 201 : 200);
  })
  .openapi(routes.delete, async (c) => {
    if (!(await deleteSegment(c.var.db, c.req.valid("param").id))) throw new ApiError(404, "not_found", "No such segment");
    return c.body(null, 204);
  })
  .openapi(routes.members, async (c) => {
    const segment = await findSegment(c.var.db, c.req.valid("param").id);
    if (!segment) throw new ApiError(404, "not_found", "No such segment");
    const { limit, after } = c.req.valid("query");
    const page = await segmentMembers(c.var.db, segment.condition as Condition, Date.now(), limit, after);
    const last = page.length === limit ? page[page.length - 1] : undefined;
    return c.json({ contacts: page.map(contactView), next_cursor: last ? last.id : null }, 200);
  });

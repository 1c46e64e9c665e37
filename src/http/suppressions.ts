/** Suppressions API: the list (paged, with reason and date), adding addresses by hand, its CSV export, and lifting one. */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { csvRecord } from "../contact/csv";
import type { Database } from "../db/client";
import { liftSuppression, suppressionPage, suppressManually } from "../db/suppressions";
import { ApiError } from "./errors";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema, emailInput, isoTime } from "./shared-schemas";

const Suppression = z
  .object({
    email: z.string(),
    reason: z.enum(["hard_bounce", "complaint", "manual", "erased"]),
    detail: z.string().nullable(),
    created_at: isoTime,
  })
  .openapi("Suppression");

const Cursor = z
  .string()
  .regex(/^\d{1,16}:.{1,254}$/, "Use the next_cursor of the previous page")
  .transform((v) => ({ createdAt: Number(v.slice(0, v.indexOf(":"))), email: v.slice(v.indexOf(":") + 1) }));

/** The most addresses one POST /v1/suppressions takes. */
export const MAX_SUPPRESSIONS_PER_CALL = 1000;

export const SuppressionInput = z
  .object({
    email: emailInput.optional(),
    emails: z.array(emailInput).min(1).max(MAX_SUPPRESSIONS_PER_CALL).optional(),
    reason: z.string().trim().min(1).max(500).optional().openapi({ description: "Why, kept as the entry's detail" }),
  })
  .strict()
  .refine((v) => (v.email === undefined) !== (v.emails === undefined), { message: "Give either email or emails" })
  .openapi("SuppressionInput");

/** Rows per export page: one query each. */
const EXPORT_PAGE_SIZE = 500;

const routes = {
  add: createRoute({
    method: "post",
    path: "/v1/suppressions",
    tags: ["suppressions"],
    summary: "Suppress one address or a list of up to 1,000 by hand (reason `manual`)",
    request: { body: jsonBody(SuppressionInput) },
    responses: {
      200: jsonResponse(z.object({ added: z.number().int(), already_suppressed: z.number().int() }), "Suppressed"),
      422: jsonResponse(ErrorSchema, "Invalid input; nothing was written"),
    },
  }),
  export: createRoute({
    method: "get",
    path: "/v1/suppressions/export",
    tags: ["suppressions"],
    summary:
      "The suppression list as CSV (email, reason, detail, created_at), streamed; erased people's hashes are not addresses and are left out",
    responses: { 200: { description: "CSV", content: { "text/csv": { schema: z.string() } } } },
  }),
  list: createRoute({
    method: "get",
    path: "/v1/suppressions",
    tags: ["suppressions"],
    summary: "Suppressed addresses, newest first (erased people are kept only as a keyed hash, which is not listed)",
    request: {
      query: z.object({
        limit: z.coerce.number().int().min(1).max(500).default(100),
        after: Cursor.optional().openapi({ type: "string", description: "The next_cursor of the previous page" }),
      }),
    },
    responses: { 200: jsonResponse(z.object({ suppressions: z.array(Suppression), next_cursor: z.string().nullable() }), "One page") },
  }),
  lift: createRoute({
    method: "delete",
    path: "/v1/suppressions/{email}",
    tags: ["suppressions"],
    summary: "Lift a suppression, so the address can be mailed again",
    request: { params: z.object({ email: emailInput.openapi({ param: { name: "email", in: "path" } }) }) },
    responses: { 204: { description: "Lifted" }, 404: jsonResponse(ErrorSchema, "Not suppressed") },
  }),
};

export const suppressionRoutes = createRouter()
  .openapi(routes.add, async (c) => {
    const input = c.req.valid("json");
    const emails = [...new Set(input.emails ?? [input.email as string])];
    const added = await suppressManually(c.var.db, emails, input.reason ?? null, Date.now());
    return c.json({ added: added.length, already_suppressed: emails.length - added.length }, 200);
  })
  .openapi(routes.export, (c) => suppressionExportResponse(c, c.var.db))
  .openapi(routes.list, async (c) => {
    const { limit, after } = c.req.valid("query");
    const page = await suppressionPage(c.var.db, limit, after);
    const last = page.length === limit ? page[page.length - 1] : undefined;
    return c.json(
      {
        suppressions: page.map((s) => ({
          email: s.email,
          reason: s.reason,
          detail: s.detail,
          created_at: new Date(s.createdAt).toISOString(),
        })),
        next_cursor: last ? `${last.createdAt}:${last.email}` : null,
      },
      200,
    );
  })
  .openapi(routes.lift, async (c) => {
    if (!(await liftSuppression(c.var.db, c.var.config.SIGNING_SECRET, c.req.valid("param").email)))
      throw new ApiError(404, "not_found", "That address is not suppressed");
    return c.body(null, 204);
  });

/** The suppression list as CSV, streamed page by page (the API's and the dashboard's download). */
export function suppressionExportResponse(c: Context, db: Database): Response {
  const encoder = new TextEncoder();
  let after: { createdAt: number; email: string } | undefined;
  let done = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(csvRecord(["email", "reason", "detail", "created_at"])));
    },
    async pull(controller) {
      if (done) return;
      const page = await suppressionPage(db, EXPORT_PAGE_SIZE, after);
      const lines = page.map((s) => csvRecord([s.email, s.reason, s.detail ?? "", new Date(s.createdAt).toISOString()]));
      if (lines.length > 0) controller.enqueue(encoder.encode(lines.join("")));
      const last = page[page.length - 1];
      if (page.length < EXPORT_PAGE_SIZE || !last) {
        done = true;
        controller.close();
        return;
      }
      after = { createdAt: last.createdAt, email: last.email };
    },
  });
  return c.body(body, 200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": 'attachment; filename="suppressions.csv"',
    "cache-control": "no-store",
  });
}

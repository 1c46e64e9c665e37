/** Suppressions API: the list (paged, with reason and date) and lifting one deliberately. */
import { createRoute, z } from "@hono/zod-openapi";
import { liftSuppression, suppressionPage } from "../db/suppressions";
import { ApiError } from "./errors";
import { createRouter, jsonResponse } from "./router";
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

const routes = {
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

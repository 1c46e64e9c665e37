/** Library API: list the ready-made flows and install one (templates + paused flow). */
import { createRoute, z } from "@hono/zod-openapi";
import { LIBRARY, libraryEntry } from "../library/catalog";
import { installEntry } from "../library/install";
import { ApiError } from "./errors";
import { createRouter, jsonResponse } from "./router";
import { ErrorSchema } from "./shared-schemas";

const LibraryItem = z
  .object({ name: z.string(), title: z.string(), description: z.string(), templates: z.array(z.string()) })
  .openapi("LibraryItem");

const Installed = z
  .object({ flow: z.object({ id: z.string(), status: z.string(), version: z.number().int() }), templates: z.array(z.string()) })
  .openapi("LibraryInstall");

const routes = {
  list: createRoute({
    method: "get",
    path: "/v1/library",
    tags: ["library"],
    summary: "The ready-made flows",
    responses: { 200: jsonResponse(z.object({ flows: z.array(LibraryItem) }), "The library") },
  }),
  install: createRoute({
    method: "post",
    path: "/v1/library/{name}/install",
    tags: ["library"],
    summary: "Install a library flow (paused) and its templates; edited templates are kept unless overwrite=true",
    request: {
      params: z.object({
        name: z
          .string()
          .max(64)
          .openapi({ param: { name: "name", in: "path" }, example: "welcome-series" }),
      }),
      query: z.object({ overwrite: z.enum(["true", "false"]).optional() }),
    },
    responses: {
      200: jsonResponse(Installed, "Installed"),
      404: jsonResponse(ErrorSchema, "No such library flow"),
      409: jsonResponse(ErrorSchema, "Templates edited since they were installed"),
    },
  }),
};

export const libraryRoutes = createRouter()
  .openapi(routes.list, (c) =>
    c.json(
      {
        flows: LIBRARY.map((e) => ({
          name: e.name,
          title: e.flow.name,
          description: e.description,
          templates: e.templates.map((t) => t.id),
        })),
      },
      200,
    ),
  )
  .openapi(routes.install, async (c) => {
    const entry = libraryEntry(c.req.valid("param").name);
    if (!entry) throw new ApiError(404, "not_found", "No such library flow");
    const result = await installEntry(c.var.db, entry, c.req.valid("query").overwrite === "true" ? "overwrite" : "refuse", Date.now());
    if (!result.ok) {
      throw new ApiError(
        409,
        "template_conflict",
        "These templates were edited since the library installed them; pass ?overwrite=true to replace them",
        result.conflicts.map((id) => ({ path: ["templates", id], code: "edited", message: `Template "${id}" was edited` })),
      );
    }
    return c.json(
      { flow: { id: result.flow.id, status: result.flow.status, version: result.flow.version }, templates: result.templates },
      200,
    );
  });

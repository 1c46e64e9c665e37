/** Liveness: answers without touching storage, so it stays up when D1 is slow. */
import { createRoute, z } from "@hono/zod-openapi";
import { createRouter, jsonResponse } from "./router";

const healthRoute = createRoute({
  method: "get",
  path: "/healthz",
  tags: ["public"],
  summary: "Liveness",
  responses: { 200: jsonResponse(z.object({ ok: z.literal(true) }), "Alive") },
});

export const healthRoutes = createRouter().openapi(healthRoute, (c) => c.json({ ok: true as const }, 200));

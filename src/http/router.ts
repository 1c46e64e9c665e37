/**
 * The router factory every HTTP module uses, so that each one validates with
 * zod, reports failures in the SPEC's error shape, and contributes its routes
 * to the one OpenAPI document.
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { z } from "zod";
import type { AppEnv } from "./context";
import { validationError } from "./errors";

/** A Hono router whose zod validation failures become 422 `validation_failed` errors. */
export function createRouter() {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error, result.target === "json" ? "body" : result.target);
    },
  });
}

/** A required JSON request body for a route definition. */
export function jsonBody<T extends z.ZodType>(schema: T, description?: string) {
  return { required: true, content: { "application/json": { schema } }, ...(description ? { description } : {}) };
}

/** A JSON response for a route definition. */
export function jsonResponse<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/**
 * Schemas shared by several HTTP modules: the error body, timestamps, emails, and the bounded inputs every entry
 * validates once (the time zone and JSON bounds themselves live in the flow language, which the pure core shares).
 */
import { z } from "@hono/zod-openapi";
import { isValidTimeZone } from "../flows/schedule";
import { JsonObject } from "../flows/schema";

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: "validation_failed" }),
      message: z.string(),
      issues: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), code: z.string(), message: z.string() })).optional(),
    }),
  })
  .openapi("Error");

/** An instant on the wire: ISO 8601 with offset. */
export const isoTime = z.string().openapi({ format: "date-time", example: "2026-11-22T09:00:00.000Z" });

/** Accepts an instant as ISO 8601 (with offset) or epoch milliseconds; yields epoch milliseconds. */
export const instantInput = z
  .union([z.iso.datetime({ offset: true }), z.number().int().min(0).max(8.64e15)])
  .transform((v) => (typeof v === "number" ? v : Date.parse(v)))
  .openapi({ description: "ISO 8601 date-time with offset, or epoch milliseconds", example: "2026-11-22T09:00:00Z" });

/** An email address as clients send it: trimmed and lower-cased before it is checked. */
export const emailInput = z.string().trim().toLowerCase().pipe(z.email().max(254)).openapi({ format: "email", example: "ada@example.com" });

/**
 * The snippet's `traits`: bounded like every record. A time zone Intl does not know is dropped with a logged reason
 * instead of failing the visitor's whole message (the page view or sign-up still counts).
 */
export const SnippetTraits = JsonObject.transform((traits) => {
  const { timezone, ...rest } = traits;
  if (timezone === undefined || (typeof timezone === "string" && isValidTimeZone(timezone))) return traits;
  console.warn(
    JSON.stringify({
      level: "warn",
      message: "snippet trait timezone dropped: unknown IANA time zone",
      timezone: String(timezone).slice(0, 100),
    }),
  );
  return rest;
});

/**
 * The JSON error shape of SPEC section 3 and the one place that turns thrown
 * errors into responses. Expected failures are `ApiError`s (or Hono's
 * `HTTPException`s from middleware); anything else is logged with a request id
 * and answered 500 without details.
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

export interface ErrorIssue {
  path: (string | number)[];
  code: string;
  message: string;
}

export interface ErrorBody {
  error: { code: string; message: string; issues?: ErrorIssue[] };
}

/** An expected, client-caused failure with a stable machine-readable code. */
export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly issues?: ErrorIssue[],
  ) {
    super(message);
  }
}

/** Converts zod issues to the wire shape (paths as arrays of keys and indexes). */
export function zodIssues(error: z.ZodError): ErrorIssue[] {
  return error.issues.map((i) => ({
    path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)),
    code: i.code,
    message: i.message,
  }));
}

/** The 422 raised for a body, query or path that fails its schema. */
export function validationError(error: z.ZodError, what = "request"): ApiError {
  return new ApiError(422, "validation_failed", `The ${what} is invalid`, zodIssues(error));
}

/** Answers with the SPEC's error shape. */
export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string, issues?: ErrorIssue[]) {
  const body: ErrorBody = { error: { code, message, ...(issues ? { issues } : {}) } };
  return c.json(body, status);
}

const httpExceptionCodes: Record<number, string> = {
  400: "bad_request",
  401: "unauthorized",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  429: "rate_limited",
};

/** The app's single `onError`: known errors keep their status; the rest become an opaque 500. */
export const handleError: ErrorHandler = (err, c) => {
  if (err instanceof ApiError) {
    if (err.status === 401) c.header("WWW-Authenticate", 'Bearer realm="nurture"');
    return errorResponse(c, err.status, err.code, err.message, err.issues);
  }
  if (err instanceof HTTPException) {
    const status = err.status as ContentfulStatusCode;
    if (status < 500) {
      const message = /malformed json/i.test(err.message) ? "The body is not valid JSON" : err.message || "Bad request";
      const code = /malformed json/i.test(err.message) ? "invalid_json" : (httpExceptionCodes[status] ?? "bad_request");
      return errorResponse(c, status, code, message);
    }
  }
  const requestId = c.req.header("cf-ray") ?? crypto.randomUUID();
  console.error(JSON.stringify({ level: "error", requestId, path: c.req.path, error: String(err), stack: (err as Error)?.stack }));
  return errorResponse(c, 500, "internal_error", `Something went wrong (request ${requestId})`);
};

/** Unknown routes answer the SPEC's 404 shape rather than Hono's plain text. */
export const handleNotFound: NotFoundHandler = (c) => errorResponse(c, 404, "not_found", `No route for ${c.req.method} ${c.req.path}`);

/**
 * The contact list as a whole (SPEC section 9): batch import as JSON or CSV, listing and search a page at a time,
 * and the CSV export streamed page by page. Validation and wire shapes here; storage in db/contact-batch.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { contactChangeEvents } from "../contact/changes";
import { CsvSyntaxError, parseCsv } from "../contact/csv";
import { exportableAttributeKeys, exportHeader, exportRecord, recordsToInputs } from "../contact/import";
import type { Database } from "../db/client";
import { conditionSql } from "../db/conditions";
import { attributeKeys, type ContactFilter, contactPage, erasedAddresses, upsertContactBatch } from "../db/contact-batch";
import { diffContact } from "../db/contacts";
import type { EventInsert } from "../db/events";
import { CONSENT_STATES, type ContactRow } from "../db/schema";
import { findSegmentCondition } from "../db/segments";
import { recordEvents } from "../pipeline/pipeline";
import { sendConfirmation } from "../tracking/consent";
import { Contact, ContactInput, contactPatch, contactView, MAX_STORED_ATTRIBUTES_BYTES } from "./contacts";
import { type AppEnv, pipelineOf } from "./context";
import { ApiError } from "./errors";
import { createRouter, jsonResponse } from "./router";
import { ErrorSchema } from "./shared-schemas";

/** The most contacts one batch call takes. */
export const MAX_BATCH_CONTACTS = 1000;

/** Contacts per export page: one query each, a bounded slice of memory. */
export const EXPORT_PAGE_SIZE = 500;

const BatchResult = z
  .object({
    created: z.number().int(),
    updated: z.number().int(),
    unchanged: z.number().int(),
    failed: z.number().int(),
    errors: z.array(
      z.object({
        row: z.number().int().openapi({ description: "CSV: the line the record starts on (the header is line 1). JSON: the array index" }),
        email: z.string().optional(),
        reason: z.string(),
      }),
    ),
  })
  .openapi("ContactBatchResult");
type RowError = z.infer<typeof BatchResult>["errors"][number];

const batchRoute = createRoute({
  method: "post",
  path: "/v1/contacts/batch",
  tags: ["contacts"],
  summary: "Upsert up to 1,000 contacts as a JSON array of ContactInput or as CSV; bad rows are reported, good ones written",
  description:
    "CSV: a header row; `email` required; `first_name`, `last_name`, `timezone`, `lifecycle_stage`, `consent`, `tags` (separated by `;`); every other column is an attribute. Starts no flow unless `trigger_flows=true`. Erased addresses are refused.",
  request: {
    query: z.object({
      trigger_flows: z
        .enum(["true", "false"])
        .default("false")
        .transform((v) => v === "true")
        .openapi({ type: "string", description: "Emit `subscribed` and `attribute_changed`, so flows start, as PUT /v1/contacts does" }),
    }),
    body: {
      required: false,
      content: {
        "application/json": { schema: z.array(z.unknown()).max(MAX_BATCH_CONTACTS).openapi({ description: "ContactInput objects" }) },
        "text/csv": { schema: z.string() },
      },
    },
  },
  responses: {
    200: jsonResponse(BatchResult, "What was written, and every row that was not"),
    415: jsonResponse(ErrorSchema, "Neither JSON nor CSV"),
    422: jsonResponse(ErrorSchema, "Not a list of contacts, or more than 1,000"),
  },
});

const ListQuery = z.object({
  q: z.string().trim().min(1).max(254).optional().openapi({ description: "Prefix of the email, first name, last name or full name" }),
  segment: z.string().max(64).optional().openapi({ description: "A saved segment's id" }),
  consent: z.enum(CONSENT_STATES).optional(),
  cursor: z.string().max(100).optional().openapi({ description: "The next_cursor of the previous page" }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

const listRoute = createRoute({
  method: "get",
  path: "/v1/contacts",
  tags: ["contacts"],
  summary: "List and search contacts a page at a time",
  request: { query: ListQuery },
  responses: {
    200: jsonResponse(z.object({ contacts: z.array(Contact), next_cursor: z.string().nullable() }), "One page"),
    404: jsonResponse(ErrorSchema, "No such segment"),
  },
});

const exportRoute = createRoute({
  method: "get",
  path: "/v1/contacts/export",
  tags: ["contacts"],
  summary: "Every contact, or a segment's, as CSV with the columns the batch import takes; streamed",
  request: { query: z.object({ segment: z.string().max(64).optional() }) },
  responses: {
    200: { description: "CSV", content: { "text/csv": { schema: z.string() } } },
    404: jsonResponse(ErrorSchema, "No such segment"),
  },
});

/** Reads a batch body into candidate rows, by content type. Rows that cannot even be read are reported. */
async function readBatch(c: Context<AppEnv>): Promise<{ rows: { row: number; input: unknown }[]; errors: RowError[] }> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  if (type === "text/csv") {
    let records: ReturnType<typeof parseCsv>;
    try {
      records = parseCsv(await c.req.text());
    } catch (error) {
      if (error instanceof CsvSyntaxError) throw new ApiError(422, "invalid_csv", `Line ${error.line}: ${error.message}`);
      throw error;
    }
    const { rows, errors, headerError } = recordsToInputs(records);
    if (headerError) throw new ApiError(422, "invalid_csv", headerError);
    if (rows.length + errors.length > MAX_BATCH_CONTACTS) throw tooMany(rows.length + errors.length);
    return { rows: rows.map((r) => ({ row: r.line, input: r.input })), errors: errors.map((e) => ({ row: e.line, reason: e.reason })) };
  }
  if (type === "application/json") {
    const list = c.req.valid("json" as never) as unknown[];
    if (list.length > MAX_BATCH_CONTACTS) throw tooMany(list.length);
    return { rows: list.map((input, row) => ({ row, input })), errors: [] };
  }
  throw new ApiError(415, "unsupported_media_type", "Send the contacts as application/json or text/csv");
}

function tooMany(count: number): ApiError {
  return new ApiError(422, "too_many_contacts", `The batch holds ${count} contacts; at most ${MAX_BATCH_CONTACTS} are taken per call`);
}

/** The list filter of a query, its segment compiled to SQL; a missing segment is a 404. */
export async function contactFilter(
  db: Database,
  query: { q?: string; segment?: string; consent?: ContactFilter["consent"] },
  now: number,
) {
  const filter: ContactFilter = { prefix: query.q, consent: query.consent };
  if (query.segment !== undefined) {
    const condition = await findSegmentCondition(db, query.segment);
    if (!condition) throw new ApiError(404, "not_found", "No such segment");
    filter.segment = conditionSql(condition, now);
  }
  return filter;
}

export const contactListRoutes = createRouter()
  .openapi(batchRoute, async (c) => {
    const now = Date.now();
    const db = c.var.db;
    const { rows, errors } = await readBatch(c);
    const valid: { row: number; input: z.infer<typeof ContactInput> }[] = [];
    const firstRowOf = new Map<string, number>();
    for (const { row, input } of rows) {
      const parsed = ContactInput.safeParse(input);
      const given = typeof input === "object" && input !== null && "email" in input ? input.email : undefined;
      const email = typeof given === "string" ? given.slice(0, 254) : undefined;
      if (!parsed.success) {
        const reason = parsed.error.issues.map((i) => `${i.path.join(".") || "row"}: ${i.message}`).join("; ");
        errors.push({ row, ...(email ? { email } : {}), reason });
        continue;
      }
      const first = firstRowOf.get(parsed.data.email);
      if (first !== undefined) {
        errors.push({ row, email: parsed.data.email, reason: `The same email is on row ${first} of this batch` });
        continue;
      }
      firstRowOf.set(parsed.data.email, row);
      valid.push({ row, input: parsed.data });
    }
    // An erased person comes back only by opting in themselves (SPEC section 9), never through a list.
    const erased = await erasedAddresses(
      db,
      c.var.config.SIGNING_SECRET,
      valid.map((v) => v.input.email),
    );
    const accepted = valid.filter(({ row, input }) => {
      if (!erased.has(input.email)) return true;
      errors.push({
        row,
        email: input.email,
        reason: "This address was erased; it can only come back by confirming a double opt-in itself",
      });
      return false;
    });

    const outcomes = await upsertContactBatch(
      db,
      accepted.map((a) => contactPatch(a.input)),
      now,
      MAX_STORED_ATTRIBUTES_BYTES,
    );
    const counts = { created: 0, updated: 0, unchanged: 0 };
    const emitted: EventInsert[] = [];
    const confirmations: ContactRow[] = [];
    outcomes.forEach((outcome, i) => {
      const { row, input } = accepted[i] as (typeof accepted)[number];
      if (outcome.status === "too_large") {
        errors.push({ row, email: input.email, reason: `The contact's attributes would exceed ${MAX_STORED_ATTRIBUTES_BYTES} bytes` });
        return;
      }
      counts[outcome.status]++;
      if (!c.req.valid("query").trigger_flows || outcome.status === "unchanged") return;
      const changes = diffContact(outcome.before, outcome.after);
      emitted.push(...contactChangeEvents(outcome.after.id, changes, now));
      if (outcome.after.consent === "pending" && changes.some((ch) => ch.attribute === "consent")) confirmations.push(outcome.after);
    });
    if (emitted.length > 0) await recordEvents(pipelineOf(c), emitted, now);
    for (const contact of confirmations) await sendConfirmation(pipelineOf(c), contact, now);
    errors.sort((a, b) => a.row - b.row);
    return c.json({ ...counts, failed: errors.length, errors }, 200);
  })
  .openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const filter = await contactFilter(c.var.db, query, Date.now());
    const page = await contactPage(c.var.db, filter, query.limit, query.cursor);
    const last = page.length === query.limit ? page[page.length - 1] : undefined;
    return c.json({ contacts: page.map(contactView), next_cursor: last ? last.id : null }, 200);
  })
  .openapi(exportRoute, async (c) => {
    const filter = await contactFilter(c.var.db, c.req.valid("query"), Date.now());
    return contactExportResponse(c, c.var.db, filter);
  });

/** The contacts matching `filter` as the export's CSV, streamed page by page (the API's and the dashboard's download). */
export async function contactExportResponse(c: Context, db: Database, filter: ContactFilter): Promise<Response> {
  const keys = exportableAttributeKeys(await attributeKeys(db, filter));
  return c.body(contactExportStream(db, filter, keys), 200, {
    "content-type": "text/csv; charset=utf-8",
    "content-disposition": 'attachment; filename="contacts.csv"',
    "cache-control": "no-store",
  });
}

/**
 * The export's CSV under `exportHeader(keys)`: one page of contacts read from D1 each time the reader has taken what
 * was read before, so memory holds one page whatever the list's size and a slow download reads D1 no faster.
 */
export function contactExportStream(db: Database, filter: ContactFilter, keys: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  let after: string | undefined;
  let done = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(exportHeader(keys)));
    },
    async pull(controller) {
      if (done) return;
      const page = await contactPage(db, filter, EXPORT_PAGE_SIZE, after);
      if (page.length > 0) controller.enqueue(encoder.encode(page.map((contact) => exportRecord(contact, keys)).join("")));
      if (page.length < EXPORT_PAGE_SIZE) {
        done = true;
        controller.close();
        return;
      }
      after = page[page.length - 1]?.id;
    },
  });
}

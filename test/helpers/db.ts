/** D1 inspection helpers for tests. */
import { env } from "cloudflare:workers";

/** Every (table, column) whose value can name a contact, by id or by email. */
const NAMING_COLUMNS: [table: string, column: string, by: "id" | "email"][] = [
  ["contacts", "id", "id"],
  ["contacts", "email", "email"],
  ["events", "contact_id", "id"],
  ["identities", "contact_id", "id"],
  ["enrollments", "contact_id", "id"],
  ["messages", "contact_id", "id"],
  ["messages", "to_email", "email"],
  ["suppressions", "email", "email"],
];

/** Counts rows in every table that name the contact (by id or email). */
export async function countRowsNaming(contactId: string, email: string): Promise<number> {
  const counts = await env.DB.batch(
    NAMING_COLUMNS.map(([table, column, by]) =>
      env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`).bind(by === "id" ? contactId : email),
    ),
  );
  return counts.reduce((sum, r) => sum + Number((r.results[0] as { n: number }).n), 0);
}

/** Counts all rows of a table. */
export async function countRows(table: string): Promise<number> {
  return Number(await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first("n"));
}

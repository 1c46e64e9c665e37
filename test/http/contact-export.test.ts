/** GET /v1/contacts/export (SPEC section 9): CSV with the batch import's columns, streamed page by page. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { contactExportStream, EXPORT_PAGE_SIZE } from "../../src/http/contact-lists";
import { call, callJson } from "../helpers/api";

function importCsv(csv: string) {
  return callJson("/v1/contacts/batch", { method: "POST", rawBody: csv, headers: { "content-type": "text/csv" } });
}

function importJson(contacts: unknown[]) {
  return callJson("/v1/contacts/batch", { method: "POST", body: contacts });
}

/** The D1 binding with a count of the statements prepared on it (drizzle prepares one per query). */
function countingD1(d1: D1Database) {
  const counted = { statements: 0 };
  const binding = new Proxy(d1, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key !== "prepare") return typeof value === "function" ? value.bind(target) : value;
      return (query: string) => {
        counted.statements++;
        return target.prepare(query);
      };
    },
  });
  return { binding, counted };
}

const many = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com`, n: i }));

describe("GET /v1/contacts/export streams CSV that re-imports unchanged", () => {
  it("exports every contact with the import's columns, and the round trip is identical", async () => {
    const original = [
      {
        email: "rt1@rt.example.com",
        first_name: 'Ré, "quoted"',
        last_name: "Line\nBreak",
        timezone: "Europe/Berlin",
        lifecycle_stage: "customer",
        consent: "subscribed",
        tags: ["vip", "b2b"],
        attributes: { plan: "pro", seats: 12, beta: true, prefs: { color: "green" }, zip: "01234" },
      },
      { email: "rt2@rt.example.com", consent: "unsubscribed", attributes: { plan: "free" } },
      { email: "rt3@rt.example.com", first_name: " padded ", consent: "pending" },
    ];
    await importJson(original);
    await callJson("/v1/segments/round-trip", {
      method: "PUT",
      body: { name: "RT", condition: { attr: "email", op: "contains", value: "@rt.example" } },
    });
    const response = await call("/v1/contacts/export?segment=round-trip");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/csv/);
    const csv = await response.text();
    const [header] = csv.split("\r\n");
    expect(header?.split(",").slice(0, 7)).toEqual(["email", "first_name", "last_name", "timezone", "lifecycle_stage", "consent", "tags"]);
    expect(header).toContain("seats");

    const before = (await env.DB.prepare("SELECT * FROM contacts WHERE email LIKE '%@rt.example.com' ORDER BY email").all()).results;
    const reimported = await importCsv(csv);
    expect(reimported.body).toMatchObject({ created: 0, updated: 0, failed: 0 });
    expect(reimported.body.unchanged).toBe(3);
    expect(before).toHaveLength(3);
    expect((await env.DB.prepare("SELECT * FROM contacts WHERE email LIKE '%@rt.example.com' ORDER BY email").all()).results).toEqual(
      before,
    );
    expect(await (await call("/v1/contacts/export?segment=round-trip")).text()).toBe(csv);
  });

  it("streams a segment's members across many pages", async () => {
    await importJson(many(1000, "exp").map((c) => ({ email: c.email, attributes: { city: c.n % 2 === 0 ? "Berlin" : "Rome" } })));
    await importJson(many(300, "exq").map((c) => ({ email: c.email, attributes: { city: "Berlin" } })));
    await callJson("/v1/segments/exp-berlin", {
      method: "PUT",
      body: { name: "B", condition: { attr: "city", op: "eq", value: "Berlin" } },
    });
    const csv = await (await call("/v1/contacts/export?segment=exp-berlin")).text();
    const lines = csv.trimEnd().split("\r\n");
    expect(lines).toHaveLength(1 + 500 + 300);
    expect(new Set(lines.slice(1).map((l) => l.split(",")[0])).size).toBe(800);
    expect((await call("/v1/contacts/export?segment=nope")).status).toBe(404);
  });

  it("reads D1 a page at a time as the reader pulls, never the whole list up front", async () => {
    const contacts = many(2 * EXPORT_PAGE_SIZE + 300, "pull").map((c) => ({ email: c.email }));
    await importJson(contacts.slice(0, EXPORT_PAGE_SIZE));
    await importJson(contacts.slice(EXPORT_PAGE_SIZE));
    const { binding, counted } = countingD1(env.DB);
    const reader = contactExportStream(openDatabase(binding), { prefix: "pull" }, []).getReader();
    const chunks: string[] = [];
    const decoder = new TextDecoder();
    // After each chunk taken, at most one page more has been read: the one that refills the stream's queue.
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(decoder.decode(value));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(counted.statements).toBeLessThanOrEqual(chunks.length);
    }
    expect(chunks[0]).toBe("email,first_name,last_name,timezone,lifecycle_stage,consent,tags\r\n");
    expect(chunks.slice(1).map((chunk) => chunk.trimEnd().split("\r\n").length)).toEqual([EXPORT_PAGE_SIZE, EXPORT_PAGE_SIZE, 300]);
    expect(counted.statements).toBe(3);
  });
});

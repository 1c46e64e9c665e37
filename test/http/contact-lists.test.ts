/**
 * The contact list as a whole (SPEC section 9): POST /v1/contacts/batch as JSON and CSV, GET /v1/contacts and the
 * streamed CSV export, which re-imports unchanged.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { call, callJson } from "../helpers/api";
import { countRows } from "../helpers/db";
import { activeFlow, enrollmentsOf } from "../helpers/flows";

const ADMIN = { authorization: `Bearer ${env.ADMIN_API_KEY}` };

function importCsv(csv: string, query = "") {
  return callJson(`/v1/contacts/batch${query}`, { method: "POST", rawBody: csv, headers: { "content-type": "text/csv" } });
}

function importJson(contacts: unknown[], query = "") {
  return callJson(`/v1/contacts/batch${query}`, { method: "POST", body: contacts });
}

async function stored(email: string) {
  return env.DB.prepare("SELECT * FROM contacts WHERE email = ?").bind(email).first<Record<string, unknown>>();
}

const many = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({ email: `${prefix}${i}@example.com`, first_name: `N${i}`, attributes: { n: i } }));

describe("POST /v1/contacts/batch upserts JSON and CSV by normalised email", () => {
  it("creates and updates from JSON, merging attributes and tags as PUT does, with consent none unless given", async () => {
    await callJson("/v1/contacts", {
      method: "PUT",
      body: { email: "old@example.com", first_name: "Old", attributes: { a: 1 }, tags: ["x"] },
    });
    const { status, body } = await importJson([
      { email: " New@Example.com ", first_name: "New", tags: ["vip"] },
      { email: "old@example.com", attributes: { b: 2 }, tags: ["y"], consent: "subscribed" },
    ]);
    expect(status).toBe(200);
    expect(body).toEqual({ created: 1, updated: 1, unchanged: 0, failed: 0, errors: [] });
    expect(await stored("new@example.com")).toMatchObject({ first_name: "New", consent: "none", tags: '["vip"]' });
    const old = await stored("old@example.com");
    expect(old).toMatchObject({ first_name: "Old", consent: "subscribed" });
    expect(JSON.parse(old?.attributes as string)).toEqual({ a: 1, b: 2 });
    expect(JSON.parse(old?.tags as string).sort()).toEqual(["x", "y"]);
  });

  it("reads CSV with a BOM, quoted commas and line breaks, ';' tags, and unknown columns as attributes", async () => {
    const csv =
      "\uFEFFemail,first_name,last_name,timezone,tags,Company,notes\r\n" +
      'csv1@example.com,"Smith, Jr.",Lee,Europe/Berlin,vip;wholesale,"ACME, Inc.","line one\r\nline ""two"""\r\n' +
      "csv2@example.com,Bo,,,,Globex,\r\n";
    const { status, body } = await importCsv(csv);
    expect(status).toBe(200);
    expect(body).toMatchObject({ created: 2, failed: 0 });
    const one = await stored("csv1@example.com");
    expect(one).toMatchObject({ first_name: "Smith, Jr.", last_name: "Lee", timezone: "Europe/Berlin", consent: "none" });
    expect(JSON.parse(one?.tags as string)).toEqual(["vip", "wholesale"]);
    expect(JSON.parse(one?.attributes as string)).toEqual({ Company: "ACME, Inc.", notes: 'line one\r\nline "two"' });
    expect(JSON.parse((await stored("csv2@example.com"))?.attributes as string)).toEqual({ Company: "Globex" });
  });

  it("reports bad emails and bad time zones by row and writes every other row", async () => {
    const csv = "email,timezone\ngood1@example.com,Europe/Paris\nnot-an-email,\ngood2@example.com,\nbad-tz@example.com,Mars/Olympus\n";
    const { body } = await importCsv(csv);
    expect(body).toMatchObject({ created: 2, updated: 0, unchanged: 0, failed: 2 });
    expect(body.errors).toEqual([
      { row: 3, email: "not-an-email", reason: expect.stringContaining("email") },
      { row: 5, email: "bad-tz@example.com", reason: expect.stringContaining("timezone") },
    ]);
    expect(await stored("good1@example.com")).toMatchObject({ timezone: "Europe/Paris" });
    expect(await stored("good2@example.com")).not.toBeNull();
    expect(await stored("bad-tz@example.com")).toBeNull();

    const json = await importJson([
      { email: "j1@example.com" },
      { email: "nope" },
      { email: "j2@example.com", timezone: "Nowhere/City" },
      7,
    ]);
    expect(json.body).toMatchObject({ created: 1, failed: 3 });
    expect(json.body.errors.map((e: { row: number }) => e.row)).toEqual([1, 2, 3]);
  });

  it("reports a second row with the same email and a CSV that cannot be read", async () => {
    const { body } = await importCsv("email,plan\ndup@example.com,a\nDUP@example.com,b\n");
    expect(body).toMatchObject({ created: 1, failed: 1, errors: [{ row: 3, reason: "The same email is on row 2 of this batch" }] });
    const broken = await importCsv('email\n"never closed@example.com\n');
    expect(broken.status).toBe(422);
    expect(broken.body.error.code).toBe("invalid_csv");
    const noEmail = await importCsv("name\nAda\n");
    expect(noEmail.status).toBe(422);
    expect((await call("/v1/contacts/batch", { method: "POST", rawBody: "x", headers: { "content-type": "text/plain" } })).status).toBe(
      415,
    );
  });

  it("accepts 1,000 contacts in one call and refuses 1,001, writing nothing", async () => {
    const before = await countRows("contacts");
    const accepted = await importJson(many(1000, "k"));
    expect(accepted.body).toMatchObject({ created: 1000, failed: 0 });
    expect(await countRows("contacts")).toBe(before + 1000);

    const refused = await importJson(many(1001, "r"));
    expect(refused.status).toBe(422);
    const csv = `email\n${many(1001, "rc")
      .map((c) => c.email)
      .join("\n")}\n`;
    const refusedCsv = await importCsv(csv);
    expect(refusedCsv.status).toBe(422);
    expect(refusedCsv.body.error.code).toBe("too_many_contacts");
    expect(await countRows("contacts")).toBe(before + 1000);
  });

  it("costs a handful of D1 queries for 1,000 contacts, whatever their number", async () => {
    let queries = 0;
    const counted = new Proxy(env.DB, {
      get(target, key) {
        const value = Reflect.get(target, key);
        if (key === "prepare")
          return (query: string) => {
            queries++;
            return target.prepare(query);
          };
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const csv = `email,first_name,plan\n${many(1000, "q")
      .map((c) => `${c.email},${c.first_name},p${c.attributes.n}`)
      .join("\n")}\n`;
    const send = () =>
      createApp().fetch(
        new Request("https://nurture.test/v1/contacts/batch", {
          method: "POST",
          body: csv,
          headers: { ...ADMIN, "content-type": "text/csv" },
        }),
        { ...env, DB: counted },
        { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext,
      );
    const first = await send();
    expect(await first.json()).toMatchObject({ created: 1000 });
    expect(queries).toBeLessThanOrEqual(5);
    queries = 0;
    expect(await (await send()).json()).toMatchObject({ unchanged: 1000 });
    expect(queries).toBeLessThanOrEqual(3);
  });
});

describe("the same batch twice changes nothing the second time", () => {
  it("answers all unchanged and leaves every row and event as it was", async () => {
    const batch = [
      { email: "idem1@example.com", first_name: "I", tags: ["a", "b"], attributes: { plan: "pro", score: 3 }, consent: "subscribed" },
      { email: "idem2@example.com", last_name: "Two", timezone: "Asia/Tokyo", lifecycle_stage: "lead" },
    ];
    expect((await importJson(batch, "?trigger_flows=true")).body).toMatchObject({ created: 2 });
    const rows = await env.DB.prepare("SELECT * FROM contacts WHERE email LIKE 'idem%' ORDER BY email").all();
    const events = await countRows("events");

    const again = await importJson(batch, "?trigger_flows=true");

    expect(again.body).toEqual({ created: 0, updated: 0, unchanged: 2, failed: 0, errors: [] });
    expect((await env.DB.prepare("SELECT * FROM contacts WHERE email LIKE 'idem%' ORDER BY email").all()).results).toEqual(rows.results);
    expect(await countRows("events")).toBe(events);
  });
});

describe("an import starts no flow unless trigger_flows=true", () => {
  it("enrolls no subscriber in the welcome flow without it, and exactly one with it", async () => {
    await activeFlow({
      id: "batch-welcome",
      name: "Welcome",
      trigger: { event: "subscribed" },
      steps: [{ id: "w", type: "email", template: "batch-w" }],
    });
    const quiet = await importJson([{ email: "quiet@example.com", consent: "subscribed" }]);
    expect(quiet.body.created).toBe(1);
    const quietId = (await stored("quiet@example.com"))?.id as string;
    expect(await enrollmentsOf(quietId)).toEqual([]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ?").bind(quietId).first("n")).toBe(0);

    await importJson([{ email: "loud@example.com", consent: "subscribed" }], "?trigger_flows=true");
    await importJson([{ email: "loud@example.com", consent: "subscribed", first_name: "L" }], "?trigger_flows=true");
    const loudId = (await stored("loud@example.com"))?.id as string;
    expect((await enrollmentsOf(loudId)).map((e) => e.flow_id)).toEqual(["batch-welcome"]);
    const subscribed = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ? AND name = 'subscribed'")
      .bind(loudId)
      .first("n");
    expect(subscribed).toBe(1);
  });
});

describe("an erased address in an import is refused", () => {
  it("reports the row, stores nothing readable and keeps the rest", async () => {
    await callJson("/v1/contacts", { method: "PUT", body: { email: "gone@example.com" } });
    expect((await call("/v1/contacts/gone@example.com", { method: "DELETE" })).status).toBe(204);
    const { body } = await importCsv("email,consent\nGone@example.com,subscribed\nstays@example.com,subscribed\n");
    expect(body).toMatchObject({
      created: 1,
      failed: 1,
      errors: [{ row: 2, email: "gone@example.com", reason: expect.stringContaining("erased") }],
    });
    expect(await stored("gone@example.com")).toBeNull();
  });
});

describe("GET /v1/contacts lists and searches a page at a time", () => {
  it("filters by prefix, consent and segment, and pages with the cursor", async () => {
    await importJson([
      { email: "list-ann@example.com", first_name: "Annika", consent: "subscribed", attributes: { city: "Berlin" } },
      { email: "list-bob@example.com", first_name: "Bob", last_name: "Annsworth", attributes: { city: "Paris" } },
      { email: "list-cy@example.com", first_name: "Cy", consent: "subscribed", attributes: { city: "Berlin" } },
    ]);
    const byPrefix = await callJson("/v1/contacts?q=Ann");
    expect(byPrefix.body.contacts.map((c: { email: string }) => c.email).sort()).toEqual(["list-ann@example.com", "list-bob@example.com"]);
    const byEmail = await callJson("/v1/contacts?q=LIST-C");
    expect(byEmail.body.contacts.map((c: { email: string }) => c.email)).toEqual(["list-cy@example.com"]);
    const wildcard = await callJson("/v1/contacts?q=list_%25");
    expect(wildcard.body.contacts).toEqual([]);

    await callJson("/v1/segments/berliners", {
      method: "PUT",
      body: { name: "Berlin", condition: { attr: "city", op: "eq", value: "Berlin" } },
    });
    const segment = await callJson("/v1/contacts?q=list-&segment=berliners&consent=subscribed&limit=1");
    expect(segment.body.contacts).toHaveLength(1);
    const next = await callJson(`/v1/contacts?q=list-&segment=berliners&consent=subscribed&limit=1&cursor=${segment.body.next_cursor}`);
    const both = [...segment.body.contacts, ...next.body.contacts].map((c: { email: string }) => c.email).sort();
    expect(both).toEqual(["list-ann@example.com", "list-cy@example.com"]);
    const none = await callJson("/v1/contacts?q=list-&consent=none");
    expect(none.body.contacts.map((c: { email: string }) => c.email)).toEqual(["list-bob@example.com"]);
    expect((await callJson("/v1/contacts?segment=missing")).status).toBe(404);
    expect((await callJson("/v1/contacts?consent=maybe")).status).toBe(422);
  });
});

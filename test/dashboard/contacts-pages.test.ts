import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { call as apiCall, callJson } from "../helpers/api";
import { csrfOf, login, page, post } from "../helpers/dashboard";

async function putContact(body: Record<string, unknown>): Promise<string> {
  const res = await callJson<{ id: string }>("/v1/contacts", { method: "PUT", body });
  expect(res.status).toBeLessThan(300);
  return res.body.id;
}

const row = (id: string) => env.DB.prepare("SELECT * FROM contacts WHERE id = ?").bind(id).first<Record<string, any>>();

describe("the contact list", () => {
  it("searches by name prefix, filters by consent and segment, and pages with a cursor", async () => {
    await putContact({ email: "ada@example.com", first_name: "Ada", last_name: "Lovelace", consent: "subscribed" });
    await putContact({ email: "grace@example.com", first_name: "Grace", last_name: "Hopper", attributes: { city: "Berlin" } });
    const values = Array.from(
      { length: 120 },
      (_, i) => `('c_bulk${String(i).padStart(3, "0")}', 'bulk${i}@example.com', 'none', '{}', '[]', 0, 0)`,
    );
    await env.DB.prepare(
      `INSERT INTO contacts (id, email, consent, attributes, tags, created_at, updated_at) VALUES ${values.join(",")}`,
    ).run();
    await callJson("/v1/segments/berliners", {
      method: "PUT",
      body: { name: "Berliners", condition: { attr: "city", op: "eq", value: "Berlin" } },
    });
    const cookie = await login();

    const byName = await page("/admin/contacts?q=love", cookie);
    expect(byName.html).toContain("ada@example.com");
    expect(byName.html).not.toContain("grace@example.com");

    const subscribed = await page("/admin/contacts?consent=subscribed", cookie);
    expect(subscribed.html).toContain("ada@example.com");
    expect(subscribed.html).not.toContain("bulk1@example.com");

    const segment = await page("/admin/contacts?segment=berliners", cookie);
    expect(segment.html).toContain("grace@example.com");
    expect(segment.html).not.toContain("ada@example.com");
    expect(segment.html).toContain('href="/admin/contacts/export?segment=berliners"');
    expect((await page("/admin/contacts?segment=nope", cookie)).status).toBe(404);

    // Cursor pages: every contact once, in id order, 50 a page.
    const seen: string[] = [];
    let next: string | null = "/admin/contacts";
    while (next) {
      const { html } = await page(next, cookie);
      seen.push(...[...html.matchAll(/href="\/admin\/contacts\/(c_[^"]+)"/g)].map((m) => m[1] as string));
      next = /<a rel="next" href="([^"]+)"/.exec(html)?.[1]?.replaceAll("&amp;", "&") ?? null;
    }
    expect(seen).toHaveLength(122);
    expect(new Set(seen).size).toBe(122);
  });

  it("exports the same CSV as the API, for all contacts or a segment", async () => {
    await putContact({ email: "ada@example.com", first_name: "Ada", tags: ["vip"], attributes: { city: "Berlin" } });
    await putContact({ email: "bob@example.com", first_name: "Bob" });
    await callJson("/v1/segments/berliners", {
      method: "PUT",
      body: { name: "Berliners", condition: { attr: "city", op: "eq", value: "Berlin" } },
    });
    const cookie = await login();
    for (const query of ["", "?segment=berliners"]) {
      const dashboard = await page(`/admin/contacts/export${query}`, cookie);
      expect(dashboard.status).toBe(200);
      expect(dashboard.res.headers.get("content-type")).toContain("text/csv");
      const api = await (await apiCall(`/v1/contacts/export${query}`)).text();
      expect(dashboard.html).toBe(api);
    }
    const segment = await page("/admin/contacts/export?segment=berliners", cookie);
    expect(segment.html).toContain("ada@example.com");
    expect(segment.html).not.toContain("bob@example.com");
    expect((await page("/admin/contacts/export?segment=nope", cookie)).status).toBe(404);
  });

  it("a long search, or one of wildcards or quotes, answers, never a 5xx", async () => {
    await putContact({ email: "ada@example.com", first_name: "Ada" });
    await putContact({ email: "ab_cd@example.com" });
    const cookie = await login();
    expect((await page(`/admin/contacts?q=${encodeURIComponent("ab_")}`, cookie)).html).toContain("ab_cd@example.com");
    expect((await page(`/admin/contacts?q=${"a".repeat(200)}`, cookie)).html).toContain("No contact matches");
    for (const q of ["%".repeat(300), "_%\\'\"", "c_'; DROP TABLE contacts"]) {
      expect((await page(`/admin/contacts?q=${encodeURIComponent(q)}`, cookie)).status).toBeLessThan(500);
    }
  });
});

describe("the importer page", () => {
  it("mounts the importer island, and explains the API route without JavaScript", async () => {
    const { html, status } = await page("/admin/contacts/import", await login());
    expect(status).toBe(200);
    expect(html).toContain('data-island="importer"');
    expect(html).toContain('src="/admin/assets/importer.js"');
    expect(html).toContain("/v1/contacts/batch");
    expect(html).toMatch(/<meta name="csrf-token" content="[^"]+"/);
  });
});

describe("a contact's page", () => {
  it("saves fields, attributes and tags through the API's schema, and emits the change events", async () => {
    const id = await putContact({
      email: "ada@example.com",
      first_name: "Ada",
      tags: ["old", "keep"],
      attributes: { plan: "free", gone: 1 },
    });
    const cookie = await login();
    const csrf = csrfOf((await page(`/admin/contacts/${id}`, cookie)).html);
    const saved = await post(`/admin/contacts/${id}`, cookie, {
      _csrf: csrf,
      first_name: "Augusta",
      last_name: "King",
      timezone: "Europe/London",
      lifecycle_stage: "customer",
      tags: "keep, new",
      attributes: '{"plan":"pro"}',
    });
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe(`/admin/contacts/${id}?done=saved`);
    const stored = await row(id);
    expect(stored).toMatchObject({ first_name: "Augusta", last_name: "King", timezone: "Europe/London", lifecycle_stage: "customer" });
    expect(JSON.parse(stored!.attributes)).toEqual({ plan: "pro" });
    expect(JSON.parse(stored!.tags).sort()).toEqual(["keep", "new"]);
    const changed = await env.DB.prepare("SELECT properties FROM events WHERE contact_id = ? AND name = 'attribute_changed'")
      .bind(id)
      .all();
    expect(changed.results.map((r) => JSON.parse(r.properties as string).attribute)).toContain("plan");
    expect((await page(saved.headers.get("location")!, cookie)).html).toContain("Saved.");
  });

  it("refuses a bad time zone or bad JSON next to the field, and writes nothing", async () => {
    const id = await putContact({ email: "ada@example.com", first_name: "Ada" });
    const cookie = await login();
    const csrf = csrfOf((await page(`/admin/contacts/${id}`, cookie)).html);
    const base = { _csrf: csrf, first_name: "Changed", last_name: "", lifecycle_stage: "", tags: "", attributes: "{}" };
    const badZone = await post(`/admin/contacts/${id}`, cookie, { ...base, timezone: "Mars/Olympus" });
    expect(badZone.status).toBe(422);
    const html = await badZone.text();
    expect(html).toMatch(/data-problem="timezone"/);
    expect(html).toContain('value="Changed"');
    const badJson = await post(`/admin/contacts/${id}`, cookie, { ...base, timezone: "", attributes: "{not json" });
    expect(badJson.status).toBe(422);
    expect(await badJson.text()).toMatch(/data-problem="attributes"[^>]*>\s*Not valid JSON/);
    expect((await row(id))!.first_name).toBe("Ada");
  });

  it("changes consent (subscribed emits once) and unsubscribes", async () => {
    const id = await putContact({ email: "ada@example.com" });
    const cookie = await login();
    const csrf = csrfOf((await page(`/admin/contacts/${id}`, cookie)).html);
    expect((await post(`/admin/contacts/${id}/consent`, cookie, { _csrf: csrf, consent: "subscribed" })).status).toBe(303);
    expect((await row(id))!.consent).toBe("subscribed");
    const subscribed = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ? AND name = 'subscribed'")
      .bind(id)
      .first();
    expect(subscribed!.n).toBe(1);
    expect((await post(`/admin/contacts/${id}/consent`, cookie, { _csrf: csrf, consent: "unsubscribed" })).status).toBe(303);
    expect((await row(id))!.consent).toBe("unsubscribed");
    expect((await post(`/admin/contacts/${id}/consent`, cookie, { _csrf: csrf, consent: "maybe" })).status).toBe(422);
    expect((await row(id))!.consent).toBe("unsubscribed");
  });

  it("suppresses the address with a reason", async () => {
    const id = await putContact({ email: "ada@example.com" });
    const cookie = await login();
    const csrf = csrfOf((await page(`/admin/contacts/${id}`, cookie)).html);
    const res = await post(`/admin/contacts/${id}/suppress`, cookie, { _csrf: csrf, reason: "asked by phone" });
    expect(res.status).toBe(303);
    const stored = await env.DB.prepare("SELECT reason, detail FROM suppressions WHERE email = 'ada@example.com'").first();
    expect(stored).toEqual({ reason: "manual", detail: "asked by phone" });
    expect((await page(`/admin/contacts/${id}`, cookie)).html).toContain("Suppressed: this address gets no email.");
  });

  it("erases only after the address is typed again", async () => {
    const id = await putContact({ email: "ada@example.com" });
    const cookie = await login();
    const confirm = await page(`/admin/contacts/${id}/erase`, cookie);
    expect(confirm.html).toContain("Erase ada@example.com?");
    const csrf = csrfOf(confirm.html);
    const wrong = await post(`/admin/contacts/${id}/erase`, cookie, { _csrf: csrf, confirm: "bob@example.com" });
    expect(wrong.status).toBe(422);
    expect(await row(id)).not.toBeNull();
    const erased = await post(`/admin/contacts/${id}/erase`, cookie, { _csrf: csrf, confirm: "ADA@example.com " });
    expect(erased.status).toBe(303);
    expect(await row(id)).toBeNull();
    const kept = await env.DB.prepare("SELECT email FROM suppressions").all();
    expect(kept.results).toHaveLength(1);
    expect(kept.results[0]!.email).toMatch(/^hmac:/);
    expect((await page(`/admin/contacts/${id}`, cookie)).status).toBe(404);
  });

  it("refuses a form without the CSRF token", async () => {
    const id = await putContact({ email: "ada@example.com" });
    const cookie = await login();
    expect((await post(`/admin/contacts/${id}/erase`, cookie, { confirm: "ada@example.com" })).status).toBe(403);
    expect(await row(id)).not.toBeNull();
  });
});

describe("the segments list", () => {
  it("shows each segment's member count, as the API's members", async () => {
    await putContact({ email: "a@example.com", attributes: { city: "Berlin" } });
    await putContact({ email: "b@example.com", attributes: { city: "Berlin" } });
    await putContact({ email: "c@example.com", attributes: { city: "Paris" } });
    await callJson("/v1/segments/berliners", {
      method: "PUT",
      body: { name: "Berliners", condition: { attr: "city", op: "eq", value: "Berlin" } },
    });
    await callJson("/v1/segments/nobody", {
      method: "PUT",
      body: { name: "Nobody", condition: { attr: "city", op: "eq", value: "Oslo" } },
    });
    const { html } = await page("/admin/segments", await login());
    expect(html).toMatch(/data-segment="berliners"[\s\S]*?data-members="2"/);
    expect(html).toMatch(/data-segment="nobody"[\s\S]*?data-members="0"/);
    expect(html).toContain('href="/admin/segments/berliners"');
    const members = await callJson<{ contacts: unknown[] }>("/v1/segments/berliners/contacts");
    expect(members.body.contacts).toHaveLength(2);
  });
});

describe("the suppressions page", () => {
  it("adds a pasted list with a reason; a bad address refuses the list and writes nothing", async () => {
    const cookie = await login();
    const csrf = csrfOf((await page("/admin/suppressions", cookie)).html);
    const bad = await post("/admin/suppressions/add", cookie, { _csrf: csrf, emails: "one@example.com\nnot-an-address", reason: "list" });
    expect(bad.status).toBe(422);
    const html = await bad.text();
    expect(html).toMatch(/data-problem="emails"[^>]*>\s*not-an-address:/);
    expect(html).toContain("one@example.com\nnot-an-address");
    expect((await env.DB.prepare("SELECT count(*) AS n FROM suppressions").first())!.n).toBe(0);

    const good = await post("/admin/suppressions/add", cookie, {
      _csrf: csrf,
      emails: "One@example.com, two@example.com\nthree@example.com one@example.com",
      reason: "old list",
    });
    expect(good.status).toBe(303);
    expect(good.headers.get("location")).toBe("/admin/suppressions?added=3");
    const rows = await env.DB.prepare("SELECT email, reason, detail FROM suppressions ORDER BY email").all();
    expect(rows.results).toEqual(["one", "three", "two"].map((n) => ({ email: `${n}@example.com`, reason: "manual", detail: "old list" })));
    const exported = await page("/admin/suppressions/export", cookie);
    expect(exported.html.split("\n")[0]).toBe("email,reason,detail,created_at\r");
    expect(exported.html).toContain("two@example.com,manual,old list,");
  });
});

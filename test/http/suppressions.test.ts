/** POST /v1/suppressions (by hand, one or a list) and GET /v1/suppressions/export (CSV without erased hashes). */

import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { parseCsv } from "../../src/contact/csv";
import { openDatabase } from "../../src/db/client";
import { messages } from "../../src/db/schema";
import { deliverDue } from "../../src/pipeline/pipeline";
import { call, callJson } from "../helpers/api";
import { createTemplates } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";
import { fakeResend, providerEnv } from "../helpers/resend";

describe("POST /v1/suppressions adds addresses by hand", () => {
  it("suppresses one address or a list with a reason, counting those already suppressed", async () => {
    const one = await callJson("/v1/suppressions", { method: "POST", body: { email: " Hand@Example.com ", reason: "asked by phone" } });
    expect(one).toMatchObject({ status: 200, body: { added: 1, already_suppressed: 0 } });
    const list = Array.from({ length: 1000 }, (_, i) => `bulk${i}@example.com`);
    const many = await callJson("/v1/suppressions", { method: "POST", body: { emails: ["hand@example.com", ...list.slice(0, 999)] } });
    expect(many.body).toEqual({ added: 999, already_suppressed: 1 });
    const row = await env.DB.prepare("SELECT reason, detail FROM suppressions WHERE email = 'hand@example.com'").first();
    expect(row).toEqual({ reason: "manual", detail: "asked by phone" });
  });

  it("refuses a bad address, more than 1,000, or neither field, writing nothing", async () => {
    const before = await env.DB.prepare("SELECT count(*) AS n FROM suppressions").first("n");
    for (const body of [
      { emails: ["ok@example.com", "not-an-address"] },
      { emails: Array.from({ length: 1001 }, (_, i) => `over${i}@example.com`) },
      {},
      { email: "a@example.com", emails: ["b@example.com"] },
    ]) {
      const res = await callJson("/v1/suppressions", { method: "POST", body });
      expect(res.status).toBe(422);
    }
    expect(await env.DB.prepare("SELECT count(*) AS n FROM suppressions").first("n")).toBe(before);
  });

  it("a suppressed address gets no mail, even transactional", async () => {
    const { body } = await callJson("/v1/contacts", { method: "PUT", body: { email: "blocked@example.com", consent: "subscribed" } });
    await callJson("/v1/suppressions", { method: "POST", body: { email: "blocked@example.com" } });
    await createTemplates("supp-t");
    const now = Date.now();
    await openDatabase(env.DB)
      .insert(messages)
      .values({
        id: "msg_supp_1",
        contactId: body.id,
        toEmail: "blocked@example.com",
        kind: "transactional",
        templateId: "supp-t",
        status: "queued",
        dueAt: now - 1000,
        createdAt: now,
      });
    const requests = fakeResend();
    await deliverDue(pipelineFor(providerEnv()));
    expect(requests).toHaveLength(0);
    expect(await env.DB.prepare("SELECT status, reason FROM messages WHERE id = 'msg_supp_1'").first()).toEqual({
      status: "suppressed",
      reason: "suppressed: manual",
    });
    vi.restoreAllMocks();
  });
});

describe("GET /v1/suppressions/export streams the list as CSV", () => {
  it("lists every address across pages with reason, detail and date, and no erased hash", async () => {
    await callJson("/v1/suppressions", {
      method: "POST",
      body: { emails: Array.from({ length: 700 }, (_, i) => `exp${i}@example.com`), reason: 'old list, "imported"' },
    });
    await callJson("/v1/contacts", { method: "PUT", body: { email: "erase-me@example.com" } });
    expect((await call("/v1/contacts/erase-me@example.com", { method: "DELETE" })).status).toBe(204);
    const response = await call("/v1/suppressions/export");
    expect(response.headers.get("content-type")).toMatch(/^text\/csv/);
    const records = parseCsv(await response.text()).map((r) => r.fields);
    expect(records[0]).toEqual(["email", "reason", "detail", "created_at"]);
    const total = await env.DB.prepare("SELECT count(*) AS n FROM suppressions WHERE email NOT LIKE 'hmac:%'").first("n");
    expect(records.length - 1).toBe(total);
    expect(records.filter((r) => r[0]?.startsWith("exp"))).toHaveLength(700);
    expect(records.find((r) => r[0] === "exp1@example.com")).toEqual([
      "exp1@example.com",
      "manual",
      'old list, "imported"',
      expect.any(String),
    ]);
    expect(records.some((r) => r[0]?.startsWith("hmac:") || r[0] === "erase-me@example.com")).toBe(false);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM suppressions WHERE email LIKE 'hmac:%'").first("n")).toBeGreaterThan(0);
  });
});

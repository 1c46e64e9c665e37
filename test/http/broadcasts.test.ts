import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { advance, broadcastMessages, seedContacts, template } from "../broadcasts/helpers";
import { callJson } from "../helpers/api";
import { countRows } from "../helpers/db";

describe("PUT /v1/broadcasts/:id validates in full", () => {
  it("answers 422 listing every problem at once and writes nothing", async () => {
    const res = await callJson("/v1/broadcasts/bad", {
      method: "PUT",
      body: {
        name: "Bad",
        template: "missing",
        audience: { segment: "nobody-here" },
        send_at: "2020-01-01T00:00:00Z",
        ab_test: { variants: [{ template: "also-missing" }, { subject: "B" }], sample_percent: 20, metric: "click_rate", wait: "4h" },
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.issues.map((i: any) => [i.path.join("."), i.code])).toEqual([
      ["template", "unknown_template"],
      ["ab_test.variants.0.template", "unknown_template"],
      ["audience.segment", "unknown_segment"],
      ["send_at", "send_at_past"],
    ]);
    expect(await countRows("broadcasts")).toBe(0);
  });

  it("answers 422 for variants without the test's fields and for a 100% sample", async () => {
    await template("t");
    const noFields = await callJson("/v1/broadcasts/ab", {
      method: "PUT",
      body: { name: "AB", template: "t", audience: { all: true }, ab_test: { variants: [{ subject: "A" }, { subject: "B" }] } },
    });
    expect(noFields.status).toBe(422);
    expect(noFields.body.error.issues.map((i: any) => i.path.join("."))).toEqual(
      expect.arrayContaining(["ab_test.sample_percent", "ab_test.metric", "ab_test.wait"]),
    );
    const all = await callJson("/v1/broadcasts/ab", {
      method: "PUT",
      body: {
        name: "AB",
        template: "t",
        audience: { all: true },
        ab_test: { variants: [{ subject: "A" }, { subject: "B" }], sample_percent: 100, metric: "open_rate", wait: "1h" },
      },
    });
    expect(all.status).toBe(422);
    expect(await countRows("broadcasts")).toBe(0);
  });

  it("refuses to send a test whose sample leaves nobody for the winner on the audience as it is", async () => {
    await template("t");
    await seedContacts([{ email: "one@example.com" }, { email: "two@example.com" }], "c_h1");
    const put = await callJson("/v1/broadcasts/tiny", {
      method: "PUT",
      body: {
        name: "Tiny",
        template: "t",
        audience: { all: true },
        ab_test: { variants: [{ subject: "A" }, { subject: "B" }], sample_percent: 50, metric: "open_rate", wait: "1h" },
      },
    });
    expect(put.status).toBe(201);
    const send = await callJson("/v1/broadcasts/tiny/send", { method: "POST" });
    expect(send.status).toBe(422);
    expect(send.body.error.issues[0]).toMatchObject({ code: "sample_leaves_nobody" });
    expect((await callJson("/v1/broadcasts/tiny")).body.status).toBe("draft");
  });
});

describe("the audience is fixed from consent, suppression and the segment", () => {
  it("a segment's subscribed members are queued, recently mailed ones skipped and counted; the send answers the live count", async () => {
    await template("vip");
    const [vip1, vip2, recent, other, pending] = await seedContacts(
      [
        { email: "vip1@example.com" },
        { email: "vip2@example.com" },
        { email: "recent@example.com" },
        { email: "other@example.com" },
        { email: "pending@example.com", consent: "pending" },
      ],
      "c_h2",
    );
    await env.DB.prepare(`UPDATE contacts SET tags = '["vip"]' WHERE id IN (?, ?, ?, ?)`).bind(vip1, vip2, recent, pending).run();
    await env.DB.prepare(
      "INSERT INTO messages (id, contact_id, to_email, kind, status, due_at, sent_at, created_at, context) VALUES ('m_recent', ?, 'recent@example.com', 'marketing', 'sent', 0, ?, 0, '{}')",
    )
      .bind(recent, Date.now() - 3_600_000)
      .run();
    expect((await callJson("/v1/segments/vip", { method: "PUT", body: { name: "VIP", condition: { tag: "vip" } } })).status).toBe(201);
    const put = await callJson("/v1/broadcasts/vip-sale", {
      method: "PUT",
      body: { name: "VIP sale", template: "vip", audience: { segment: "vip" }, skip_if_emailed_within: "16h" },
    });
    expect(put.status).toBe(201);
    const send = await callJson("/v1/broadcasts/vip-sale/send", { method: "POST" });
    expect(send.body).toMatchObject({ audience: 3, broadcast: { status: "sending" } });
    await advance();
    const rows = await broadcastMessages("vip-sale");
    expect(rows.map((r) => [r.contact_id, r.status])).toEqual([
      [vip1, "queued"],
      [vip2, "queued"],
      [recent, "suppressed"],
    ]);
    const stats = await callJson("/v1/broadcasts/vip-sale/stats");
    expect(stats.body.outcomes).toMatchObject({ total: 3, queued: 2, skipped_recently_emailed: 1 });
    expect(other).toBeDefined();
  });
});

describe("the broadcasts API lists, schedules and deletes", () => {
  it("a send with a future send_at is scheduled, listed, and cannot be deleted until cancelled", async () => {
    await template("later");
    const sendAt = new Date(Date.now() + 3_600_000).toISOString();
    await callJson("/v1/broadcasts/later", {
      method: "PUT",
      body: { name: "Later", template: "later", audience: { all: true }, send_at: sendAt },
    });
    const send = await callJson("/v1/broadcasts/later/send", { method: "POST" });
    expect(send.body.broadcast).toMatchObject({ status: "scheduled", send_at: sendAt });
    expect((await callJson("/v1/broadcasts")).body.broadcasts.map((b: any) => [b.id, b.status])).toEqual([["later", "scheduled"]]);
    expect((await callJson("/v1/broadcasts/later", { method: "DELETE" })).status).toBe(409);
    expect((await callJson("/v1/broadcasts/later/cancel", { method: "POST" })).status).toBe(200);
    expect((await callJson("/v1/broadcasts/later", { method: "DELETE" })).status).toBe(204);
    expect((await callJson("/v1/broadcasts/later")).status).toBe(404);
  });
});

describe("POST /v1/broadcasts/:id/test", () => {
  it("sends the broadcast's email to the address given, marked [Test], outside the broadcast's messages and stats", async () => {
    await template("t-sale", "Sale for {{ contact.first_name }}");
    await seedContacts([{ email: "real@example.com" }]);
    await callJson("/v1/broadcasts/sale", { method: "PUT", body: { name: "Sale", template: "t-sale", audience: { all: true } } });
    const res = await callJson("/v1/broadcasts/sale/test", { method: "POST", body: { to: "Me@Shop.test" } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.messages).toEqual([expect.objectContaining({ variant: null, subject: "[Test] Sale for Ada", status: "sent" })]);
    expect(
      await env.DB.prepare("SELECT kind, to_email, broadcast_id FROM messages")
        .all()
        .then((r) => r.results),
    ).toEqual([{ kind: "test", to_email: "me@shop.test", broadcast_id: null }]);
    expect(await broadcastMessages("sale")).toEqual([]);
    expect((await callJson("/v1/broadcasts/sale")).body.status).toBe("draft");
  });

  it("404s an unknown broadcast, 422s a bad address, and 422s a broadcast whose template is gone, writing nothing", async () => {
    expect((await callJson("/v1/broadcasts/nope/test", { method: "POST", body: { to: "me@shop.test" } })).status).toBe(404);
    await template("t-gone");
    await callJson("/v1/broadcasts/gone", { method: "PUT", body: { name: "Gone", template: "t-gone", audience: { all: true } } });
    expect((await callJson("/v1/broadcasts/gone/test", { method: "POST", body: { to: "not-an-email" } })).status).toBe(422);
    await env.DB.prepare("DELETE FROM templates WHERE id = 't-gone'").run();
    const gone = await callJson("/v1/broadcasts/gone/test", { method: "POST", body: { to: "me@shop.test" } });
    expect(gone.status).toBe(422);
    expect(gone.body.error.message).toBe("Template t-gone does not exist");
    expect(await countRows("messages")).toBe(0);
  });
});

/**
 * The two routes the dashboard's editors call while the user types: a flow checked as PUT
 * would check it (nothing saved), and a condition counted as a segment would be.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { contactId, createTemplates } from "../helpers/flows";

const flow = {
  name: "Checked",
  trigger: { event: "signed_up" },
  steps: [
    { id: "hello", type: "email", template: "t1" },
    { id: "later", type: "wait", for: "1d" },
  ],
};

describe("POST /v1/flows/:id/validate", () => {
  it("answers 200 for a definition PUT accepts, and stores nothing", async () => {
    await createTemplates("t1");
    const res = await callJson("/v1/flows/checked/validate", { method: "POST", body: flow });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ valid: true });
    expect(await env.DB.prepare("SELECT count(*) AS n FROM flows").first("n")).toBe(0);
  });

  it("answers the same 422 issues as PUT, schema and graph problems together", async () => {
    const broken = {
      ...flow,
      steps: [
        { id: "hello", type: "email" },
        { id: "later", type: "wait", for: "1d", next: "gone" },
        { id: "missing", type: "email", template: "nope" },
      ],
    };
    const checked = await callJson("/v1/flows/checked/validate", { method: "POST", body: broken });
    const put = await callJson("/v1/flows/checked", { method: "PUT", body: broken });
    expect(checked.status).toBe(422);
    expect(put.status).toBe(422);
    expect(checked.body.error.issues).toEqual(put.body.error.issues);
    const paths = checked.body.error.issues.map((i: { path: unknown[] }) => JSON.stringify(i.path));
    expect(paths).toEqual(expect.arrayContaining(['["steps",0]', '["steps",1,"next"]']));
    expect(await env.DB.prepare("SELECT count(*) AS n FROM flows").first("n")).toBe(0);
  });

  it("refuses a body whose id differs from the URL's, as PUT does", async () => {
    await createTemplates("t1");
    const res = await callJson("/v1/flows/checked/validate", { method: "POST", body: { ...flow, id: "other" } });
    expect(res.status).toBe(422);
    expect(res.body.error.issues[0]).toMatchObject({ path: ["id"], code: "id_mismatch" });
  });
});

describe("POST /v1/segments/preview", () => {
  it("counts the condition's members and lists the first, equal to the saved segment's member list", async () => {
    for (let i = 0; i < 14; i++) await contactId(`vip${String(i).padStart(2, "0")}@example.com`, { tags: ["vip"] });
    await contactId("plain@example.com");
    const condition = { all: [{ tag: "vip" }, { not: { attr: "email", op: "eq", value: "vip03@example.com" } }] };
    const preview = await callJson("/v1/segments/preview", { method: "POST", body: { condition } });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ count: 13, capped: false });
    await callJson("/v1/segments/vips", { method: "PUT", body: { name: "VIPs", condition } });
    const members = await callJson("/v1/segments/vips/contacts?limit=500");
    expect(members.body.contacts).toHaveLength(13);
    expect(preview.body.contacts.map((c: { email: string }) => c.email)).toEqual(
      members.body.contacts.slice(0, 10).map((c: { email: string }) => c.email),
    );
    expect(await env.DB.prepare("SELECT count(*) AS n FROM segments").first("n")).toBe(1);
  });

  it("answers 422 with the condition's issues for a bad condition", async () => {
    const res = await callJson("/v1/segments/preview", { method: "POST", body: { condition: { attr: "plan", op: "like" } } });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("validation_failed");
    expect(res.body.error.issues.length).toBeGreaterThan(0);
  });
});

/**
 * The editor pages as the server renders them: the island's mount point with the stored
 * definition, the templates and the flow schema as props, and a read-only fallback that
 * says the editor needs JavaScript; the segments list and editor the same way.
 */
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { login, page } from "../helpers/dashboard";
import { createTemplates } from "../helpers/flows";

/** The JSON props beside an island's mount point. */
function islandProps(html: string, name: string): any {
  const match = new RegExp(`<div data-island="${name}"><script type="application/json">(.*?)</script>`, "s").exec(html);
  if (!match?.[1]) throw new Error(`no island ${name}`);
  return JSON.parse(match[1]);
}

describe("the flow editor page", () => {
  it("hands the island the stored flow, the templates and the schema, and shows the definition without JavaScript", async () => {
    await createTemplates("t1");
    const definition = { name: "Editable", trigger: { event: "signed_up" }, steps: [{ id: "hello", type: "email", template: "t1" }] };
    await callJson("/v1/flows/editable", { method: "PUT", body: definition });
    const cookie = await login();
    const { html, res } = await page("/admin/flows/editable/edit", cookie);
    expect(res.status).toBe(200);
    const props = islandProps(html, "flow-editor");
    expect(props).toMatchObject({ flowId: "editable", status: "draft", version: 1, definition: { ...definition, id: "editable" } });
    expect(props.templates).toEqual([{ id: "t1", subject: expect.any(String) }]);
    // The step panels are drawn from the schema: every step type is there, conditions marked for the builder.
    const stepTypes = props.schema.properties.steps.items.oneOf.map((s: any) => s.properties.type.const);
    expect(stepTypes).toEqual(["email", "wait", "wait_for", "branch", "split", "update", "notify", "webhook", "exit"]);
    expect(props.schema.properties.steps.items.oneOf[3].properties.if).toEqual({ "x-widget": "condition" });
    expect(html).toContain("The flow editor needs JavaScript");
    expect(html).toContain("&quot;signed_up&quot;");
    expect(html).toContain('<script type="module" src="/admin/assets/flow-editor.js">');
  });

  it("opens an empty canvas for a new flow, and answers 404 for an unknown one", async () => {
    const cookie = await login();
    const fresh = await page("/admin/flows/new", cookie);
    expect(islandProps(fresh.html, "flow-editor")).toMatchObject({ flowId: null, definition: null });
    expect((await page("/admin/flows/nope/edit", cookie)).res.status).toBe(404);
  });
});

describe("the segment pages", () => {
  it("list segments, and open one in the segment editor with its condition", async () => {
    const condition = { all: [{ tag: "vip" }] };
    await callJson("/v1/segments/vips", { method: "PUT", body: { name: "VIPs", condition } });
    const cookie = await login();
    const list = await page("/admin/segments", cookie);
    expect(list.html).toContain('href="/admin/segments/vips"');
    expect(list.html).toContain('href="/admin/segments" aria-current="page"');
    const editor = await page("/admin/segments/vips", cookie);
    expect(islandProps(editor.html, "segment-editor")).toEqual({ segmentId: "vips", name: "VIPs", condition });
    expect(editor.html).toContain("The segment editor needs JavaScript");
    expect((await page("/admin/segments/none", cookie)).res.status).toBe(404);
  });
});

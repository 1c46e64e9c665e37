import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { createTemplates, SIMPLE_FLOW } from "../helpers/flows";

describe("PUT /v1/flows/:id", () => {
  it("stores a valid flow as a draft, then each save as a new version", async () => {
    await createTemplates("t1", "t2");
    const created = await callJson("/v1/flows/simple", { method: "PUT", body: SIMPLE_FLOW });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: "simple", status: "draft", version: 1, definition: { id: "simple", name: "Simple" } });
    const updated = await callJson("/v1/flows/simple", { method: "PUT", body: { ...SIMPLE_FLOW, name: "Simple 2" } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ version: 2, name: "Simple 2" });
    const versions = await env.DB.prepare("SELECT version FROM flow_versions WHERE flow_id = 'simple' ORDER BY version").all();
    expect(versions.results).toEqual([{ version: 1 }, { version: 2 }]);
    const row = await env.DB.prepare("SELECT trigger_key FROM flows WHERE id = 'simple'").first("trigger_key");
    expect(row).toBe("event:signed_up");
  });

  it("answers 422 listing every graph problem at once and stores nothing", async () => {
    await createTemplates("t1");
    const res = await callJson("/v1/flows/broken", {
      method: "PUT",
      body: {
        name: "Broken",
        trigger: { event: "x" },
        steps: [
          { id: "a", type: "email", template: "t1", next: "nowhere" },
          { id: "orphan", type: "email", template: "missing-template" },
          { id: "loop1", type: "branch", if: { tag: "x" }, then: "loop2", else: "loop2" },
          { id: "loop2", type: "update", add_tags: ["y"], next: "loop1" },
          { id: "dup", type: "exit" },
          { id: "dup", type: "exit" },
          { id: "w", type: "wait_for", event: "email_opened", of: "loop2", timeout: "1d" },
        ],
      },
    });
    expect(res.status).toBe(422);
    const codes = res.body.error.issues.map((i: { code: string }) => i.code).sort();
    expect(codes).toEqual(
      expect.arrayContaining([
        "unknown_step",
        "unknown_template",
        "loop_without_wait",
        "duplicate_step",
        "unreachable_step",
        "not_an_email_step",
      ]),
    );
    expect(res.body.error.issues.find((i: { code: string }) => i.code === "unknown_step").path).toEqual(["steps", 0, "next"]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM flows").first("n")).toBe(0);
  });

  it("answers 422 for bad durations, time zones, steps and a mismatched id, listing each", async () => {
    const res = await callJson("/v1/flows/bad", {
      method: "PUT",
      body: {
        id: "other",
        name: "Bad",
        trigger: { event: "x" },
        settings: { timezone: "Mars/Olympus", quiet_hours: { start: "25:00", end: "08:00" } },
        steps: [
          { id: "w", type: "wait", for: "2 days" },
          { id: "e", type: "email" },
          { id: "z", type: "teleport" },
        ],
      },
    });
    expect(res.status).toBe(422);
    const paths = res.body.error.issues.map((i: { path: unknown[] }) => i.path.join("."));
    expect(paths).toEqual(
      expect.arrayContaining(["settings.timezone", "settings.quiet_hours.start", "steps.0.for", "steps.1", "steps.2.type"]),
    );
    const mismatch = await callJson("/v1/flows/bad", { method: "PUT", body: { ...SIMPLE_FLOW, id: "other" } });
    expect(mismatch.status).toBe(422);
  });
});

describe("one 422 lists schema and graph problems together", () => {
  it("a bad duration, a reference to a missing step and an unknown template are reported in one answer, and nothing is saved", async () => {
    await createTemplates("t1");
    const res = await callJson("/v1/flows/mixed", {
      method: "PUT",
      body: {
        name: "Mixed",
        trigger: { event: "signed_up" },
        steps: [
          { id: "hello", type: "email", template: "t1", next: "nowhere" },
          { id: "pause", type: "wait", for: "two days" },
          { id: "bye", type: "email", template: "missing-template" },
        ],
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe("validation_failed");
    const issues: { path: (string | number)[]; code: string }[] = res.body.error.issues;
    expect(issues.some((i) => i.path.join(".").startsWith("steps.1"))).toBe(true);
    expect(issues).toContainEqual(expect.objectContaining({ path: ["steps", 0, "next"], code: "unknown_step" }));
    expect(issues).toContainEqual(expect.objectContaining({ path: ["steps", 2, "template"], code: "unknown_template" }));
    expect(await env.DB.prepare("SELECT count(*) AS n FROM flows WHERE id = 'mixed'").first("n")).toBe(0);
  });

  it("a body whose steps cannot be read reports the schema issues alone", async () => {
    const res = await callJson("/v1/flows/broken", { method: "PUT", body: { name: "Broken", trigger: { event: "x" }, steps: "none" } });
    expect(res.status).toBe(422);
    expect(res.body.error.issues.map((i: { path: string[] }) => i.path[0])).toEqual(["steps"]);
  });
});

describe("GET, DELETE, activate and pause", () => {
  it("lists, reads, activates, pauses and deletes a flow; unknown ids are 404", async () => {
    await createTemplates("t1", "t2");
    await callJson("/v1/flows/simple", { method: "PUT", body: SIMPLE_FLOW });
    expect((await callJson("/v1/flows")).body.flows).toMatchObject([{ id: "simple", status: "draft", trigger: { event: "signed_up" } }]);
    expect((await callJson("/v1/flows/simple/activate", { method: "POST" })).body.status).toBe("active");
    expect((await callJson("/v1/flows/simple/pause", { method: "POST" })).body.status).toBe("paused");
    expect((await callJson("/v1/flows/simple")).body).toMatchObject({ status: "paused", version: 1 });
    const deleted = await callJson("/v1/flows/simple", { method: "DELETE" });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual({ deleted: true, cancelled_messages: 0, ended_enrollments: 0 });
    expect((await callJson("/v1/flows/simple")).status).toBe(404);
    expect((await callJson("/v1/flows/simple/activate", { method: "POST" })).status).toBe(404);
    expect((await callJson("/v1/flows/nope", { method: "DELETE" })).status).toBe(404);
  });

  it("publishes the flow schema in /openapi.json", async () => {
    const doc = await callJson("/openapi.json", { auth: false });
    expect(doc.body.components.schemas.Flow).toBeDefined();
    expect(doc.body.paths["/v1/flows/{id}"].put).toBeDefined();
    expect(doc.body.paths["/v1/segments/{id}/contacts"].get).toBeDefined();
  });
});

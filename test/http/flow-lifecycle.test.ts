import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { activeFlow, createTemplates, enrollmentsOf, insertRunning, putFlow, SIMPLE_FLOW, track } from "../helpers/flows";

const DAY = 86_400_000;

describe("flow versions", () => {
  it("lists every save newest first with what changed, pages, reads one, and restores it as a new version", async () => {
    await createTemplates("t1", "t2", "t3");
    await putFlow("simple", SIMPLE_FLOW);
    await putFlow("simple", {
      ...SIMPLE_FLOW,
      steps: [
        SIMPLE_FLOW.steps[0],
        { id: "pause", type: "wait", for: "2d" },
        { id: "nudge", type: "email", template: "t3" },
        SIMPLE_FLOW.steps[2],
      ],
    });
    await putFlow("simple", {
      ...SIMPLE_FLOW,
      trigger: { event: "subscribed" },
      settings: { quiet_hours: { start: "21:00", end: "08:00" } },
      steps: [SIMPLE_FLOW.steps[0], { id: "nudge", type: "email", template: "t3" }, SIMPLE_FLOW.steps[2]],
    });

    const all = await callJson("/v1/flows/simple/versions");
    expect(all.status).toBe(200);
    expect(all.body.next_cursor).toBeNull();
    expect(all.body.versions.map((v: { version: number }) => v.version)).toEqual([3, 2, 1]);
    const [v3, v2, v1] = all.body.versions;
    expect(v3).toMatchObject({
      current: true,
      changes: { steps_added: [], steps_removed: ["pause"], steps_changed: [], rules_changed: ["trigger", "settings.quiet_hours"] },
      summary: "removed step pause; changed trigger, settings.quiet_hours",
    });
    expect(v2).toMatchObject({
      current: false,
      changes: { steps_added: ["nudge"], steps_removed: [], steps_changed: ["pause"], steps_reordered: false, rules_changed: [] },
      summary: "added step nudge; changed step pause",
    });
    expect(v1).toMatchObject({ changes: null, summary: "first version kept" });
    expect(Date.parse(v1.saved_at)).toBeGreaterThan(0);

    const first = await callJson("/v1/flows/simple/versions?limit=2");
    expect(first.body.versions.map((v: { version: number }) => v.version)).toEqual([3, 2]);
    expect(first.body.next_cursor).toBe(2);
    // The page's oldest version is still described against its predecessor, which is on the next page.
    expect(first.body.versions[1].changes.steps_added).toEqual(["nudge"]);
    const second = await callJson(`/v1/flows/simple/versions?limit=2&before=${first.body.next_cursor}`);
    expect(second.body).toMatchObject({ versions: [{ version: 1, changes: null }], next_cursor: null });

    const one = await callJson("/v1/flows/simple/versions/1");
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ version: 1, current: false, definition: { ...SIMPLE_FLOW, id: "simple" } });

    const restored = await callJson("/v1/flows/simple/versions/1/restore", { method: "POST" });
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({ version: 4, definition: { ...SIMPLE_FLOW, id: "simple" } });
    expect((await callJson("/v1/flows/simple")).body.definition).toEqual({ ...SIMPLE_FLOW, id: "simple" });
    const latest = await callJson("/v1/flows/simple/versions?limit=1");
    expect(latest.body.versions[0]).toMatchObject({
      version: 4,
      current: true,
      changes: { steps_added: ["pause"], steps_removed: ["nudge"], rules_changed: ["trigger", "settings.quiet_hours"] },
    });
    const rows = await env.DB.prepare("SELECT count(*) AS n FROM flow_versions WHERE flow_id = 'simple'").first("n");
    expect(rows).toBe(4);
  });

  it("answers 404 for an unknown flow or version and 422 for bad parameters", async () => {
    await createTemplates("t1", "t2");
    await putFlow("simple", SIMPLE_FLOW);
    expect((await callJson("/v1/flows/nope/versions")).status).toBe(404);
    expect((await callJson("/v1/flows/simple/versions/9")).status).toBe(404);
    expect((await callJson("/v1/flows/simple/versions/9/restore", { method: "POST" })).status).toBe(404);
    expect((await callJson("/v1/flows/nope/versions/1/restore", { method: "POST" })).status).toBe(404);
    const bad = await callJson("/v1/flows/simple/versions/abc");
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe("validation_failed");
    expect((await callJson("/v1/flows/simple/versions?limit=0")).status).toBe(422);
    expect((await callJson("/v1/flows/simple/versions?limit=101")).status).toBe(422);
  });

  it("refuses to restore a version whose template was deleted since, and saves nothing", async () => {
    await createTemplates("t1", "t2", "old");
    await putFlow("simple", { ...SIMPLE_FLOW, steps: [{ id: "hello", type: "email", template: "old" }] });
    await putFlow("simple", SIMPLE_FLOW);
    await env.DB.prepare("DELETE FROM templates WHERE id = 'old'").run();
    const res = await callJson("/v1/flows/simple/versions/1/restore", { method: "POST" });
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toMatchObject([{ code: "unknown_template", path: ["steps", 0, "template"] }]);
    expect((await callJson("/v1/flows/simple")).body.version).toBe(2);
  });

  it("pages through 130 versions without missing or repeating one", async () => {
    await createTemplates("t1", "t2");
    await putFlow("many", SIMPLE_FLOW);
    // Stored directly: 130 PUTs would only slow the test down.
    await env.DB.prepare(
      `INSERT INTO flow_versions (flow_id, version, definition, created_at)
       SELECT 'many', value, json_set(?1, '$.name', 'Name ' || value), value FROM json_each(?2)`,
    )
      .bind(JSON.stringify({ ...SIMPLE_FLOW, id: "many" }), JSON.stringify(Array.from({ length: 129 }, (_, i) => i + 2)))
      .run();
    await env.DB.prepare("UPDATE flows SET version = 130 WHERE id = 'many'").run();
    const seen: number[] = [];
    let before: number | null = null as number | null;
    for (let pages = 0; pages < 10; pages++) {
      const res = await callJson(`/v1/flows/many/versions?limit=100${before ? `&before=${before}` : ""}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.versions.map((v: { version: number }) => v.version));
      for (const v of res.body.versions.filter((x: { version: number }) => x.version > 2)) expect(v.summary).toBe("changed name");
      before = res.body.next_cursor;
      if (before === null) break;
    }
    expect(seen).toEqual(Array.from({ length: 130 }, (_, i) => 130 - i));
  });
});

describe("duplicating a flow", () => {
  it("copies it as a draft under the next free '-copy' id and name, leaving the original alone", async () => {
    await createTemplates("t1", "t2");
    await putFlow("simple", SIMPLE_FLOW);
    await callJson("/v1/flows/simple/activate", { method: "POST" });
    const copy = await callJson("/v1/flows/simple/duplicate", { method: "POST" });
    expect(copy.status).toBe(201);
    expect(copy.body).toMatchObject({
      id: "simple-copy",
      name: "Simple (copy)",
      status: "draft",
      version: 1,
      definition: { ...SIMPLE_FLOW, id: "simple-copy", name: "Simple (copy)" },
    });
    const again = await callJson("/v1/flows/simple/duplicate", { method: "POST" });
    expect(again.body).toMatchObject({ id: "simple-copy-2", status: "draft" });
    expect((await callJson("/v1/flows/simple")).body).toMatchObject({ status: "active", version: 1, name: "Simple" });
    const stored = await env.DB.prepare("SELECT id, trigger_key FROM flows ORDER BY id").all();
    expect(stored.results).toEqual([
      { id: "simple", trigger_key: "event:signed_up" },
      { id: "simple-copy", trigger_key: "event:signed_up" },
      { id: "simple-copy-2", trigger_key: "event:signed_up" },
    ]);
    expect((await callJson("/v1/flows/simple-copy/versions")).body.versions).toHaveLength(1);
    expect((await callJson("/v1/flows/nope/duplicate", { method: "POST" })).status).toBe(404);
  });

  it("keeps a copy of a 64-character id within the id limit, and falls back to a random suffix when the named copies are taken", async () => {
    await createTemplates("t1", "t2");
    const long = "a".repeat(64);
    await putFlow(long, SIMPLE_FLOW);
    const copy = await callJson(`/v1/flows/${long}/duplicate`, { method: "POST" });
    expect(copy.status).toBe(201);
    expect(copy.body.id).toBe(`${"a".repeat(52)}-copy`);
    for (let i = 0; i < 19; i++) expect((await callJson(`/v1/flows/${long}/duplicate`, { method: "POST" })).status).toBe(201);
    const random = await callJson(`/v1/flows/${long}/duplicate`, { method: "POST" });
    expect(random.status).toBe(201);
    expect(random.body.id).toMatch(/^a{52}-copy-[0-9a-f]{6}$/);
    expect((await callJson(`/v1/flows/${random.body.id}`)).status).toBe(200);
  });
});

describe("deleting a flow", () => {
  it("answers how many queued messages it cancelled and running enrollments it ended", async () => {
    await createTemplates("t1", "t2");
    await putFlow("simple", SIMPLE_FLOW);
    await insertRunning("simple", "pause", 3);
    await insertRunning("other", "pause", 1, "elsewhere");
    await env.DB.prepare(
      `INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, status, due_at, created_at)
       SELECT 'm' || value, 'pause-0000', 'x@example.com', 'marketing', ?1, 'bye', ?2, 0, 0 FROM json_each(?3)`,
    )
      .bind("simple", "queued", JSON.stringify([1, 2, 3, 4]))
      .run();
    await env.DB.prepare(
      "INSERT INTO messages (id, contact_id, to_email, kind, flow_id, step_id, status, due_at, created_at) VALUES ('sent1', 'pause-0000', 'x@example.com', 'marketing', 'simple', 'hello', 'sent', 0, 0)",
    ).run();
    const res = await callJson("/v1/flows/simple", { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ deleted: true, cancelled_messages: 4, ended_enrollments: 3 });
    const statuses = await env.DB.prepare(
      "SELECT status, reason, count(*) AS n FROM messages GROUP BY status, reason ORDER BY status",
    ).all();
    expect(statuses.results).toEqual([
      { status: "cancelled", reason: "flow_deleted", n: 4 },
      { status: "sent", reason: null, n: 1 },
    ]);
    expect((await callJson("/v1/flows/simple", { method: "DELETE" })).status).toBe(404);
  });
});

describe("the impact of editing an active flow", () => {
  it("counts the running contacts on the steps a draft removes, and saves nothing", async () => {
    await activeFlow({ id: "simple", ...SIMPLE_FLOW });
    await track({ email: "ada@example.com", name: "signed_up" });
    const [enrollment] = await enrollmentsOf((await callJson("/v1/contacts/ada@example.com")).body.id);
    expect(enrollment).toMatchObject({ status: "active", current_step: "pause" });
    await insertRunning("simple", "bye", 2);
    const draft = { ...SIMPLE_FLOW, steps: [SIMPLE_FLOW.steps[0], { id: "soon", type: "wait", for: "1h" }] };
    const res = await callJson("/v1/flows/simple/impact", { method: "POST", body: draft });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      running: 3,
      removed_steps: ["pause", "bye"],
      on_removed_steps: [
        { step: "pause", contacts: 1 },
        { step: "bye", contacts: 2 },
      ],
      affected: 3,
      changes: { steps_added: ["soon"] },
      summary: "added step soon; removed steps pause, bye",
    });
    const kept = await callJson("/v1/flows/simple/impact", { method: "POST", body: { ...SIMPLE_FLOW, name: "Renamed" } });
    expect(kept.body).toMatchObject({ running: 3, removed_steps: [], on_removed_steps: [], affected: 0, summary: "changed name" });
    expect((await callJson("/v1/flows/simple")).body).toMatchObject({ version: 1, name: "Simple" });
  });

  it("answers 422 for a body that is not a flow and 404 for an unknown flow", async () => {
    await createTemplates("t1", "t2");
    await putFlow("simple", SIMPLE_FLOW);
    const bad = await callJson("/v1/flows/simple/impact", { method: "POST", body: { name: "x", steps: [] } });
    expect(bad.status).toBe(422);
    expect(bad.body.error.code).toBe("validation_failed");
    expect((await callJson("/v1/flows/nope/impact", { method: "POST", body: SIMPLE_FLOW })).status).toBe(404);
  });
});

describe("entry counts", () => {
  const now = Date.now();
  const today = Math.floor(now / DAY) * DAY;
  const ymd = (ms: number) => new Date(ms).toISOString().slice(0, 10);

  async function contacts(
    rows: { id: string; consent?: string; attributes?: Record<string, unknown>; created?: number; opened?: number; orderAt?: number }[],
  ) {
    await env.DB.prepare(
      `INSERT INTO contacts (id, email, consent, attributes, created_at, updated_at, last_opened_at, last_order_at)
       SELECT json_extract(value, '$.id'), json_extract(value, '$.id') || '@example.com', coalesce(json_extract(value, '$.consent'), 'subscribed'),
              coalesce(json_extract(value, '$.attributes'), '{}'), coalesce(json_extract(value, '$.created'), ?1), ?1,
              json_extract(value, '$.opened'), json_extract(value, '$.orderAt')
       FROM json_each(?2)`,
    )
      .bind(now, JSON.stringify(rows.map((r) => ({ ...r, attributes: r.attributes ? JSON.stringify(r.attributes) : undefined }))))
      .run();
  }

  const count = (trigger: unknown) => callJson("/v1/flows/entry-count", { method: "POST", body: { trigger } });

  it("counts a date trigger's contacts in the next seven days, once or yearly, on custom and system dates", async () => {
    await contacts([
      { id: "in3days", attributes: { renews_on: ymd(today + 3 * DAY), birthday: `1990-${ymd(today + 2 * DAY).slice(5)}` } },
      { id: "in10days", attributes: { renews_on: ymd(today + 10 * DAY), birthday: `1985-${ymd(today + 10 * DAY).slice(5)}` } },
      { id: "past", consent: "unsubscribed", attributes: { renews_on: ymd(today - 3 * DAY), birthday: `2001-${ymd(today).slice(5)}` } },
      { id: "garbage", attributes: { renews_on: "soon", birthday: "not a date" } },
      { id: "none" },
      { id: "ordered", orderAt: today - 89 * DAY },
    ]);
    const once = await count({ date: { attribute: "renews_on" } });
    expect(once.status).toBe(200);
    expect(once.body).toMatchObject({
      count: 1,
      subscribed: 1,
      window: { from: new Date(today).toISOString(), to: new Date(today + 7 * DAY).toISOString() },
    });
    // A week before renewal: renewing in 10 days falls in 3 days; renewing in 3 days fell 4 days ago.
    expect((await count({ date: { attribute: "renews_on", offset: "-7d" } })).body.count).toBe(1);
    const yearly = await count({ date: { attribute: "birthday", repeat: "yearly" } });
    expect(yearly.body).toMatchObject({ count: 2, subscribed: 1 });
    // A system date: last_order_at plus 90 days falls tomorrow for "ordered".
    expect((await count({ date: { attribute: "last_order_at", offset: "90d" } })).body.count).toBe(1);
    expect((await count({ date: { attribute: "created_at", offset: "1d" } })).body.count).toBe(6);
  });

  it("counts an inactivity trigger's contacts and a segment's members, each in one statement over 1,500 contacts", async () => {
    const many = Array.from({ length: 1500 }, (_, i) => ({
      id: `k${String(i).padStart(4, "0")}`,
      consent: i % 3 === 0 ? "none" : "subscribed",
      created: now - 200 * DAY,
      opened: i % 2 === 0 ? now - 100 * DAY : now - DAY,
      attributes: { plan: i % 5 === 0 ? "pro" : "free", score: i },
    }));
    await contacts(many);
    const inactive = await count({ inactive_for: "90d" });
    expect(inactive.body).toMatchObject({
      count: 750,
      subscribed: many.filter((c, i) => i % 2 === 0 && c.consent === "subscribed").length,
    });
    // A segment of 80 comparisons, bound as one JSON parameter. (The schema allows 100, but 100 numeric equalities on a
    // custom attribute compile past D1's statement size today, in segments and here alike.)
    const scores = Array.from({ length: 79 }, (_, i) => ({ attr: "score", op: "eq", value: i * 10 }));
    const condition = {
      all: [{ attr: "plan", op: "eq", value: "pro" }, { any: [{ any: scores.slice(0, 40) }, { any: scores.slice(40) }] }],
    };
    expect((await callJson("/v1/segments/pros", { method: "PUT", body: { name: "Pros", condition } })).status).toBe(201);
    const members = await count({ segment_entered: "pros" });
    // score is a multiple of 10 below 790 and plan is pro (i % 5 === 0): each of the 79.
    expect(members.body).toMatchObject({ count: 79, explanation: "Contacts in segment pros now" });
    expect(members.body.subscribed).toBe(many.filter((_, i) => i % 10 === 0 && i < 790 && i % 3 !== 0).length);
    expect((await count({ segment_entered: "missing" })).body).toMatchObject({ count: 0, explanation: "There is no segment missing" });
  });

  it("answers a flow's own count, and 422 for event triggers and bad triggers", async () => {
    await createTemplates("t1");
    await contacts([{ id: "old", created: now - 40 * DAY }, { id: "new" }]);
    await putFlow("winback", {
      name: "Win back",
      trigger: { inactive_for: "30d" },
      steps: [{ id: "hello", type: "email", template: "t1" }],
    });
    const own = await callJson("/v1/flows/winback/entry-count");
    expect(own.body).toMatchObject({ count: 1, subscribed: 1, window: null, explanation: "Contacts with no open or click for 30d" });
    await createTemplates("t2");
    await putFlow("simple", SIMPLE_FLOW);
    const event = await callJson("/v1/flows/simple/entry-count");
    expect(event.status).toBe(422);
    expect(event.body.error.code).toBe("not_countable");
    expect((await count({ event: "signed_up" })).body.error.code).toBe("not_countable");
    expect((await count({ inactive_for: "ninety days" })).status).toBe(422);
    expect((await callJson("/v1/flows/entry-count", { method: "POST", body: { trigger: { inactive_for: "1d" }, extra: 1 } })).status).toBe(
      422,
    );
    expect((await callJson("/v1/flows/nope/entry-count")).status).toBe(404);
  });
});

describe("contacts on a step", () => {
  it("lists the contacts running on a step a page at a time", async () => {
    await activeFlow({ id: "simple", ...SIMPLE_FLOW });
    await track({ email: "ada@example.com", name: "signed_up" });
    const first = await callJson("/v1/flows/simple/steps/pause/contacts");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ contacts: [{ email: "ada@example.com" }], next_cursor: null });
    expect((await callJson("/v1/flows/simple/steps/bye/contacts")).body).toEqual({ contacts: [], next_cursor: null });

    await insertRunning("simple", "bye", 250);
    await insertRunning("simple", "hello", 5);
    const seen: string[] = [];
    let cursor: string | null = null as string | null;
    for (let pages = 0; pages < 10; pages++) {
      const res = await callJson(`/v1/flows/simple/steps/bye/contacts?limit=100${cursor ? `&cursor=${cursor}` : ""}`);
      expect(res.status).toBe(200);
      expect(res.body.contacts.length).toBeLessThanOrEqual(100);
      seen.push(...res.body.contacts.map((c: { email: string }) => c.email));
      cursor = res.body.next_cursor;
      if (cursor === null) break;
    }
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250);
    expect(seen.every((e) => e.startsWith("bye-"))).toBe(true);
  });

  it("answers 404 for an unknown flow or step and 422 for a bad limit", async () => {
    await createTemplates("t1", "t2");
    await putFlow("simple", SIMPLE_FLOW);
    expect((await callJson("/v1/flows/simple/steps/nope/contacts")).status).toBe(404);
    expect((await callJson("/v1/flows/nope/steps/hello/contacts")).status).toBe(404);
    expect((await callJson("/v1/flows/simple/steps/hello/contacts?limit=201")).status).toBe(422);
    expect((await callJson("/v1/flows/simple/steps/bad%20id/contacts")).status).toBe(422);
  });
});

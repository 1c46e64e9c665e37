import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { csrfOf, login, page, post } from "../helpers/dashboard";
import { activeFlow, createTemplates, insertRunning, putFlow, SIMPLE_FLOW, track } from "../helpers/flows";

const DAY = 86_400_000;

const text = (html: string) => html.replace(/<[^>]+>/g, "").replace(/\s+/g, " ");

describe("the flow page's lifecycle section", () => {
  it("shows who would enter a draft inactivity flow, links each diagram node to its step, and lists versions", async () => {
    await createTemplates("t1");
    const now = Date.now();
    await env.DB.prepare(
      `INSERT INTO contacts (id, email, consent, created_at, updated_at) VALUES
       ('old1', 'old1@example.com', 'subscribed', ?1, ?1), ('old2', 'old2@example.com', 'none', ?1, ?1), ('new', 'new@example.com', 'subscribed', ?2, ?2)`,
    )
      .bind(now - 100 * DAY, now)
      .run();
    const winback = { name: "Win back", trigger: { inactive_for: "90d" }, steps: [{ id: "offer", type: "email", template: "t1" }] };
    await putFlow("winback", winback);
    await putFlow("winback", { ...winback, steps: [...winback.steps, { id: "later", type: "wait", for: "3d" }] });
    await insertRunning("winback", "offer", 2);
    const cookie = await login();
    const { status, html } = await page("/admin/flows/winback", cookie);
    expect(status).toBe(200);
    // old1, old2 and the two running contacts (created at 0) have not engaged for 90 days; "new" has just signed up.
    expect(html).toContain('id="entry-count" data-count="4"');
    expect(text(html)).toContain("4 contacts would enter now (3 subscribed to marketing mail). Contacts with no open or click for 90d.");
    expect(text(html)).toContain("2 contacts are running in this flow now");
    expect(html).toContain('<a href="/admin/flows/winback/steps/offer">');
    expect(html).toContain('<a href="/admin/flows/winback/steps/later">');
    expect(html).toContain("offer · email · 2 here");
    expect(html).toMatch(/<tr data-version="2">.*?added step later.*?current/s);
    expect(html).toMatch(/<tr data-version="1">.*?first version kept.*?href="\/admin\/flows\/winback\/versions\/1"/s);
    expect(html).toContain('action="/admin/flows/winback/duplicate"');
    expect(html).toContain('href="/admin/flows/winback/delete"');
  });

  it("counts an active flow's entrants only when asked, and never for an event trigger", async () => {
    await createTemplates("t1");
    const segment = await callJson("/v1/segments/vips", { method: "PUT", body: { name: "VIPs", condition: { tag: "vip" } } });
    expect(segment.status).toBe(201);
    await env.DB.prepare(
      `INSERT INTO contacts (id, email, tags, created_at, updated_at) VALUES ('v1', 'v1@example.com', '["vip"]', 0, 0), ('v2', 'v2@example.com', '[]', 0, 0)`,
    ).run();
    await activeFlow({
      id: "vip",
      name: "VIP",
      trigger: { segment_entered: "vips" },
      steps: [{ id: "hi", type: "email", template: "t1" }],
    });
    const cookie = await login();
    const active = await page("/admin/flows/vip", cookie);
    expect(active.html).not.toContain('id="entry-count"');
    expect(active.html).toContain('href="/admin/flows/vip?entry_count=1"');
    const asked = await page("/admin/flows/vip?entry_count=1", cookie);
    expect(asked.html).toContain('id="entry-count" data-count="1"');
    expect(text(asked.html)).toContain("Contacts in segment vips now");
    await createTemplates("t2");
    await putFlow("simple", SIMPLE_FLOW);
    const event = await page("/admin/flows/simple", cookie);
    expect(event.html).not.toContain("entry-count");
    expect(event.html).not.toContain("count-entrants");
  });
});

describe("restoring a version from the dashboard", () => {
  it("shows what restoring changes and whom it affects, restores with the CSRF token, and refuses without it", async () => {
    await activeFlow({ id: "simple", ...SIMPLE_FLOW });
    await putFlow("simple", {
      ...SIMPLE_FLOW,
      steps: [SIMPLE_FLOW.steps[0], { id: "soon", type: "wait", for: "1h" }, SIMPLE_FLOW.steps[2]],
    });
    await insertRunning("simple", "soon", 3);
    const cookie = await login();
    const review = await page("/admin/flows/simple/versions/1", cookie);
    expect(review.status).toBe(200);
    expect(text(review.html)).toContain("against the current one, added step pause; removed step soon.");
    expect(review.html).toContain('id="impact" data-affected="3"');
    expect(review.html).toMatch(/<li data-step="soon">soon: 3<\/li>/);
    expect(review.html).toContain('action="/admin/flows/simple/versions/1/restore"');

    const forged = await post("/admin/flows/simple/versions/1/restore", cookie, { _csrf: "forged" });
    expect(forged.status).toBe(403);
    expect((await callJson("/v1/flows/simple")).body.version).toBe(2);

    const restored = await post("/admin/flows/simple/versions/1/restore", cookie, { _csrf: csrfOf(review.html) });
    expect(restored.status).toBe(303);
    expect(restored.headers.get("location")).toBe("/admin/flows/simple");
    const flow = await callJson("/v1/flows/simple");
    expect(flow.body).toMatchObject({ version: 3, status: "active", definition: { ...SIMPLE_FLOW, id: "simple" } });
    const current = await page("/admin/flows/simple/versions/3", cookie);
    expect(text(current.html)).toContain("This is the current version.");
    expect(current.html).not.toContain("/restore");
  });

  it("answers 422 with the problem when the version names a deleted template, and 404 for unknown versions", async () => {
    await createTemplates("t1", "t2", "old");
    await putFlow("simple", { ...SIMPLE_FLOW, steps: [{ id: "hello", type: "email", template: "old" }] });
    await putFlow("simple", SIMPLE_FLOW);
    await env.DB.prepare("DELETE FROM templates WHERE id = 'old'").run();
    const cookie = await login();
    const review = await page("/admin/flows/simple/versions/1", cookie);
    const res = await post("/admin/flows/simple/versions/1/restore", cookie, { _csrf: csrfOf(review.html) });
    expect(res.status).toBe(422);
    const html = await res.text();
    expect(html).toMatch(/<ul class="error" id="problems"><li>steps\.0\.template: [^<]*old/);
    expect((await callJson("/v1/flows/simple")).body.version).toBe(2);
    expect((await page("/admin/flows/simple/versions/7", cookie)).status).toBe(404);
    expect((await page("/admin/flows/simple/versions/x", cookie)).status).toBe(404);
    expect((await post("/admin/flows/simple/versions/7/restore", cookie, { _csrf: csrfOf(review.html) })).status).toBe(404);
  });

  it("pages the full version list", async () => {
    await createTemplates("t1", "t2");
    await putFlow("simple", SIMPLE_FLOW);
    await env.DB.prepare(
      `INSERT INTO flow_versions (flow_id, version, definition, created_at)
       SELECT 'simple', value, json_set(?1, '$.name', 'Name ' || value), 0 FROM json_each(?2)`,
    )
      .bind(JSON.stringify({ ...SIMPLE_FLOW, id: "simple" }), JSON.stringify(Array.from({ length: 24 }, (_, i) => i + 2)))
      .run();
    await env.DB.prepare("UPDATE flows SET version = 25 WHERE id = 'simple'").run();
    const cookie = await login();
    const flowPage = await page("/admin/flows/simple", cookie);
    expect(flowPage.html.match(/<tr data-version=/g)).toHaveLength(5);
    expect(flowPage.html).toContain('href="/admin/flows/simple/versions"');
    const first = await page("/admin/flows/simple/versions", cookie);
    expect(first.html.match(/<tr data-version=/g)).toHaveLength(20);
    expect(first.html).toContain('href="/admin/flows/simple/versions?before=6"');
    const second = await page("/admin/flows/simple/versions?before=6", cookie);
    expect([...second.html.matchAll(/<tr data-version="(\d+)"/g)].map((m) => m[1])).toEqual(["5", "4", "3", "2", "1"]);
    expect(second.html).not.toContain("Older versions");
  });
});

describe("duplicating and deleting from the dashboard", () => {
  it("duplicates a flow as a draft and opens the copy", async () => {
    await activeFlow({ id: "simple", ...SIMPLE_FLOW });
    const cookie = await login();
    const flowPage = await page("/admin/flows/simple", cookie);
    const res = await post("/admin/flows/simple/duplicate", cookie, { _csrf: csrfOf(flowPage.html) });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/flows/simple-copy");
    expect((await callJson("/v1/flows/simple-copy")).body).toMatchObject({ status: "draft", name: "Simple (copy)" });
    const copy = await page("/admin/flows/simple-copy", cookie);
    expect(copy.status).toBe(200);
    expect(copy.html).toContain("Simple (copy)");
  });

  it("warns how many queued messages and running enrollments deleting cancels, then deletes with the CSRF token", async () => {
    await activeFlow({ id: "simple", ...SIMPLE_FLOW });
    await track([
      { email: "ada@example.com", name: "signed_up" },
      { email: "bob@example.com", name: "signed_up" },
    ]);
    // Mail due later (a retry, a capped send) waits in the outbox as queued.
    await env.DB.prepare(
      `INSERT INTO messages (id, to_email, kind, flow_id, step_id, status, due_at, created_at)
       SELECT 'later-' || value, 'ada@example.com', 'marketing', 'simple', 'bye', 'queued', 0, 0 FROM json_each('[1, 2, 3]')`,
    ).run();
    const queued = await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE flow_id = 'simple' AND status = 'queued'").first("n");
    expect(queued).toBe(3);
    const cookie = await login();
    const confirm = await page("/admin/flows/simple/delete", cookie);
    expect(confirm.status).toBe(200);
    expect(confirm.html).toContain(`data-queued="${queued}" data-running="2"`);
    expect(text(confirm.html)).toContain(`cancels ${queued} queued`);
    expect(text(confirm.html)).toContain("ends 2 running enrollments");
    expect((await post("/admin/flows/simple/delete", cookie, { _csrf: "forged" })).status).toBe(403);
    expect((await callJson("/v1/flows/simple")).status).toBe(200);
    const res = await post("/admin/flows/simple/delete", cookie, { _csrf: csrfOf(confirm.html) });
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/admin/flows");
    expect((await callJson("/v1/flows/simple")).status).toBe(404);
    const left = await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE flow_id = 'simple' AND status = 'queued'").first("n");
    expect(left).toBe(0);
    expect((await page("/admin/flows/simple/delete", cookie)).status).toBe(404);
  });
});

describe("a step's page", () => {
  it("shows the step's numbers and the contacts on it, a page at a time", async () => {
    await activeFlow({ id: "simple", ...SIMPLE_FLOW });
    await track({ email: "ada@example.com", name: "signed_up" });
    const cookie = await login();
    const hello = await page("/admin/flows/simple/steps/hello", cookie);
    expect(hello.status).toBe(200);
    expect(hello.html).toContain('id="step-numbers"');
    expect(hello.html).toMatch(/<th>Sent<\/th><td class="n">\d+<\/td>/);
    expect(hello.html).toContain('id="step-contacts-none"');
    const pause = await page("/admin/flows/simple/steps/pause", cookie);
    expect(pause.html).toMatch(/<a href="\/admin\/contacts\/[^"]+">ada@example.com<\/a>/);

    await insertRunning("simple", "bye", 60);
    const first = await page("/admin/flows/simple/steps/bye", cookie);
    expect(first.html.match(/@example\.com<\/a>/g)).toHaveLength(50);
    const next = /href="(\/admin\/flows\/simple\/steps\/bye\?cursor=[^"]+)"/.exec(first.html)?.[1];
    expect(next).toBeDefined();
    const second = await page(next!.replaceAll("&amp;", "&"), cookie);
    expect(second.html.match(/@example\.com<\/a>/g)).toHaveLength(10);
    expect(second.html).not.toContain("Next page");
    expect((await page("/admin/flows/simple/steps/nope", cookie)).status).toBe(404);
    expect((await page("/admin/flows/nope/steps/hello", cookie)).status).toBe(404);
  });
});

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sendBroadcastTest } from "../../src/broadcasts/test-send";
import { findBroadcast } from "../../src/db/broadcasts";
import { readConfig } from "../../src/env";
import { advance, broadcastMessages, db, seedContacts, template } from "../broadcasts/helpers";
import { callJson } from "../helpers/api";
import { call, csrfOf, login, page, post } from "../helpers/dashboard";
import { fakeResend, providerEnv } from "../helpers/resend";

afterEach(() => {
  vi.restoreAllMocks();
});

/** Five contacts: two VIPs subscribed, one VIP unsubscribed, one VIP suppressed, one subscribed outside the segment. */
async function seedAudience() {
  await seedContacts([
    { email: "ada@example.com" },
    { email: "bob@example.com" },
    { email: "cy@example.com", consent: "unsubscribed" },
    { email: "dee@example.com" },
    { email: "eve@example.com" },
  ]);
  await env.DB.prepare(`UPDATE contacts SET tags = '["vip"]' WHERE email <> 'eve@example.com'`).run();
  await env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES ('dee@example.com', 'hard_bounce', 0)").run();
  const segment = await callJson("/v1/segments/vip", { method: "PUT", body: { name: "VIPs", condition: { tag: "vip" } } });
  expect(segment.status, JSON.stringify(segment.body)).toBeLessThan(300);
  await template("spring");
}

/** The compose form's fields for a VIP broadcast; `extra` overrides. */
function composeFields(csrf: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    _csrf: csrf,
    new: "1",
    id: "spring",
    name: "Spring sale",
    template: "spring",
    audience: "segment:vip",
    when: "now",
    send_at: "",
    local_time: "",
    timezone: "",
    sample_percent: "20",
    wait: "4h",
    metric: "click_rate",
    skip_if_emailed_within: "",
    test_to: "",
    action: "save",
    ...extra,
  };
}

async function newForm(cookie: string) {
  const form = await page("/admin/broadcasts/new", cookie);
  expect(form.status).toBe(200);
  return csrfOf(form.html);
}

const broadcastCount = async () => Number(await env.DB.prepare("SELECT count(*) AS n FROM broadcasts").first("n"));

describe("the broadcasts pages", () => {
  it("are in the navigation, list nothing at first, and offer the templates and segments to compose with", async () => {
    await seedAudience();
    const cookie = await login();
    const list = await page("/admin/broadcasts", cookie);
    expect(list.status).toBe(200);
    expect(list.html).toContain('<a href="/admin/broadcasts" aria-current="page">Broadcasts</a>');
    expect(list.html).toContain("No broadcasts yet");
    const form = await page("/admin/broadcasts/new", cookie);
    expect(form.html).toContain('<option value="spring">spring — Subject spring</option>');
    expect(form.html).toContain('<option value="segment:vip">Segment VIPs (vip)</option>');
    // All subscribed and not suppressed: ada, bob, eve.
    expect(form.html).toContain('<b data-count="3">3</b> contacts would receive it now');
  });

  it("Count recomputes who would receive it for the audience chosen, after consent and suppression, and stores nothing", async () => {
    await seedAudience();
    const cookie = await login();
    const counted = await post("/admin/broadcasts", cookie, composeFields(await newForm(cookie), { action: "count" }));
    expect(counted.status).toBe(200);
    const html = await counted.text();
    // ada and bob: cy is unsubscribed, dee suppressed, eve outside the segment.
    expect(html).toContain('<b data-count="2">2</b> contacts would receive it now');
    expect(html).toContain('<option value="segment:vip" selected="">Segment VIPs (vip)</option>');
    expect(await broadcastCount()).toBe(0);
  });

  it("Preview shows the chosen template rendered for the sample contact, framed from the template's render route", async () => {
    await seedAudience();
    const cookie = await login();
    const shown = await post("/admin/broadcasts", cookie, composeFields(await newForm(cookie), { action: "preview" }));
    const html = await shown.text();
    expect(html).toContain('<td id="preview-subject">Subject spring</td>');
    expect(html).toContain('src="/admin/templates/spring/render?contact="');
    const frame = await page("/admin/templates/spring/render?contact=", cookie);
    expect(frame.html).toContain("<p>Hi ada@example.com</p>");
    expect(await broadcastCount()).toBe(0);
  });

  it("refuses a form with the API's own problems, each next to its field, and stores nothing", async () => {
    await seedAudience();
    const cookie = await login();
    const refused = await post(
      "/admin/broadcasts",
      cookie,
      composeFields(await newForm(cookie), {
        name: "",
        template: "nope",
        when: "at",
        send_at: "2020-01-01T09:00",
        ab: "on",
        subject_a: "Only one",
        sample_percent: "100",
        wait: "soon",
        action: "review",
      }),
    );
    expect(refused.status).toBe(422);
    const html = await refused.text();
    expect(html).toMatch(/data-problem="name">[^<]+/);
    expect(html).toMatch(/data-problem="ab">[^<]+/);
    expect(html).toContain('data-problem="sample_percent">A sample of 100% leaves nobody for the winner');
    expect(html).toContain('data-problem="wait">Expected a duration such as 30m, 1h, 2d or 1w');
    // What was typed is shown again.
    expect(html).toContain('value="Only one"');
    expect(await broadcastCount()).toBe(0);

    // With the shape right, the checks that need the database speak: the unknown template and the past send_at.
    const checked = await post(
      "/admin/broadcasts",
      cookie,
      composeFields(csrfOf(html), { template: "nope", when: "at", send_at: "2020-01-01T09:00", action: "review" }),
    );
    expect(checked.status).toBe(422);
    const second = await checked.text();
    expect(second).toContain('data-problem="template">No template nope');
    expect(second).toContain('data-problem="send_at">send_at is in the past');
    expect(await broadcastCount()).toBe(0);
  });

  it("a form posted without the session's CSRF token is refused and writes nothing", async () => {
    await seedAudience();
    const cookie = await login();
    const forged = await post("/admin/broadcasts", cookie, composeFields("not-a-token"));
    expect(forged.status).toBe(403);
    const crossSite = await post("/admin/broadcasts", cookie, composeFields(await newForm(cookie)), "https://evil.test");
    expect(crossSite.status).toBe(403);
    expect(await broadcastCount()).toBe(0);
  });

  it("saves a draft, confirms with the final count, sends, shows the report filling in, and cancels the rest", async () => {
    await seedAudience();
    const cookie = await login();
    const saved = await post(
      "/admin/broadcasts",
      cookie,
      composeFields(await newForm(cookie), { skip_if_emailed_within: "16h", local_time: "09:00", timezone: "Europe/Paris" }),
    );
    expect(saved.status).toBe(303);
    expect(saved.headers.get("location")).toBe("/admin/broadcasts/spring?done=saved");
    const stored = await findBroadcast(db(), "spring");
    expect(stored?.status).toBe("draft");
    expect(stored?.definition).toEqual({
      name: "Spring sale",
      template: "spring",
      audience: { segment: "vip" },
      local_time: "09:00",
      timezone: "Europe/Paris",
      skip_if_emailed_within: "16h",
    });
    // The draft opens in the form again, as saved.
    const draft = await page(saved.headers.get("location")!, cookie);
    expect(draft.html).toContain("Saved as a draft.");
    expect(draft.html).toContain('name="skip_if_emailed_within" id="f-skip_if_emailed_within" value="16h"');

    const review = await post("/admin/broadcasts", cookie, {
      ...composeFields(csrfOf(draft.html), { new: "", skip_if_emailed_within: "16h", action: "review" }),
    });
    expect(review.headers.get("location")).toBe("/admin/broadcasts/spring/confirm");
    // Someone joins the segment between composing and confirming: the final count says so.
    await seedContacts([{ email: "fay@example.com" }], "c_late");
    await env.DB.prepare(`UPDATE contacts SET tags = '["vip"]' WHERE email = 'fay@example.com'`).run();
    const confirm = await page("/admin/broadcasts/spring/confirm", cookie);
    expect(confirm.html).toContain('<td id="final-count" data-count="3">3 contacts');
    expect(confirm.html).toContain("Send to 3 contacts now");

    const sent = await post("/admin/broadcasts/spring/send", cookie, { _csrf: csrfOf(confirm.html) });
    expect(sent.status).toBe(303);
    expect(sent.headers.get("location")).toBe("/admin/broadcasts/spring?done=sending");
    expect((await findBroadcast(db(), "spring"))?.status).toBe("sending");
    await advance();
    expect((await broadcastMessages("spring")).map((m) => m.to_email)).toEqual(["ada@example.com", "bob@example.com", "fay@example.com"]);

    const report = await page("/admin/broadcasts/spring", cookie);
    expect(report.html).toContain('<span class="badge sending">sending</span>');
    expect(report.html).toContain('data-stat="audience" data-value="3"');
    expect(report.html).toContain('<td class="n" data-outcome="queued">3</td>');
    expect(report.html).toContain('id="broadcast-funnel"');
    expect(report.html).toContain('<meta http-equiv="refresh" content="10"/>');
    // Editing a broadcast that is sending is not possible: the form's post goes to its report instead.
    const late = await post("/admin/broadcasts", cookie, composeFields(csrfOf(report.html), { new: "", name: "Changed" }));
    expect(late.headers.get("location")).toBe("/admin/broadcasts/spring");
    expect((await findBroadcast(db(), "spring"))?.name).toBe("Spring sale");

    const cancelled = await post("/admin/broadcasts/spring/cancel", cookie, { _csrf: csrfOf(report.html) });
    expect(cancelled.headers.get("location")).toBe("/admin/broadcasts/spring?done=cancelled&n=3");
    expect((await broadcastMessages("spring")).map((m) => m.status)).toEqual(["cancelled", "cancelled", "cancelled"]);
    const after = await page(cancelled.headers.get("location")!, cookie);
    expect(after.html).toContain('<span class="badge cancelled">cancelled</span>');
    expect(after.html).toContain("3 unsent messages were stopped");
    expect(after.html).not.toContain('id="cancel"');

    const list = await page("/admin/broadcasts", cookie);
    expect(list.html).toContain('<tr data-broadcast="spring">');
    expect(list.html).toContain("Segment VIPs (vip)");
  });

  it("schedules for a time, says so before and after, and cancels while scheduled", async () => {
    await seedAudience();
    const cookie = await login();
    const at = new Date(Date.now() + 3_600_000).toISOString().slice(0, 16);
    await post("/admin/broadcasts", cookie, composeFields(await newForm(cookie), { when: "at", send_at: at, audience: "all" }));
    expect((await findBroadcast(db(), "spring"))?.sendAt).toBe(Date.parse(`${at}:00Z`));
    const confirm = await page("/admin/broadcasts/spring/confirm", cookie);
    expect(confirm.html).toContain("Schedule for 3 contacts");
    const sent = await post("/admin/broadcasts/spring/send", cookie, { _csrf: csrfOf(confirm.html) });
    expect(sent.headers.get("location")).toBe("/admin/broadcasts/spring?done=scheduled");
    const report = await page("/admin/broadcasts/spring", cookie);
    expect(report.html).toContain('<span class="badge scheduled">scheduled</span>');
    expect(report.html).toContain('id="cancel"');
    await post("/admin/broadcasts/spring/cancel", cookie, { _csrf: csrfOf(report.html) });
    expect((await findBroadcast(db(), "spring"))?.status).toBe("cancelled");
    expect(await broadcastMessages("spring")).toEqual([]);
  });

  it("the confirmation refuses a test whose sample leaves nobody, as the API does, and nothing starts", async () => {
    await seedAudience();
    const cookie = await login();
    await post(
      "/admin/broadcasts",
      cookie,
      composeFields(await newForm(cookie), { ab: "on", subject_a: "One", subject_b: "Two", sample_percent: "50" }),
    );
    const confirm = await page("/admin/broadcasts/spring/confirm", cookie);
    expect(confirm.html).toContain("A 50% sample of 2 contacts leaves a variant with nobody");
    const refused = await post("/admin/broadcasts/spring/send", cookie, { _csrf: csrfOf(confirm.html) });
    expect(refused.status).toBe(422);
    expect(await refused.text()).toContain('id="problems"');
    expect((await findBroadcast(db(), "spring"))?.status).toBe("draft");
  });

  it("Send test to me sends each variant to the address typed, marked as a test, counted nowhere", async () => {
    await seedAudience();
    const cookie = await login();
    const tested = await post(
      "/admin/broadcasts",
      cookie,
      composeFields(await newForm(cookie), {
        ab: "on",
        subject_a: "Spring is here",
        subject_b: "20% off",
        test_to: "Me@Shop.test",
        action: "test",
      }),
    );
    expect(tested.status).toBe(303);
    expect(tested.headers.get("location")).toBe("/admin/broadcasts/spring?done=tested&to=me%40shop.test");
    // Without a provider configured the tests land in the dev mailbox, rendered as they would be sent.
    const rows = (
      await env.DB.prepare("SELECT kind, to_email, subject, status, broadcast_id, provider_id FROM messages ORDER BY due_at").all()
    ).results;
    expect(rows).toEqual([
      expect.objectContaining({
        kind: "test",
        to_email: "me@shop.test",
        subject: "[Test a] Spring is here",
        status: "sent",
        broadcast_id: null,
      }),
      expect.objectContaining({ kind: "test", to_email: "me@shop.test", subject: "[Test b] 20% off", status: "sent", broadcast_id: null }),
    ]);
    const shown = await page(tested.headers.get("location")!, cookie);
    expect(shown.html).toContain("A test of each version went to me@shop.test.");
    const stats = await callJson("/v1/broadcasts/spring/stats");
    expect(stats.body.outcomes.total).toBe(0);
    expect(stats.body.totals.sent).toBe(0);

    const bad = await post("/admin/broadcasts", cookie, composeFields(csrfOf(shown.html), { new: "", test_to: "nobody", action: "test" }));
    expect(bad.status).toBe(422);
    expect(await bad.text()).toContain('data-problem="test_to">Type the address to send the test to');
  });

  it("with a provider configured, each variant's test reaches it with its own subject, marked as a test", async () => {
    await seedAudience();
    const put = await callJson("/v1/broadcasts/spring", {
      method: "PUT",
      body: {
        name: "Spring",
        template: "spring",
        audience: { all: true },
        ab_test: { variants: [{ subject: "A!" }, { subject: "B!" }], sample_percent: 20, metric: "open_rate", wait: "1h" },
      },
    });
    expect(put.status).toBe(201);
    const requests = fakeResend();
    const provider = providerEnv();
    const sent = await sendBroadcastTest(
      provider,
      db(),
      readConfig(provider),
      (await findBroadcast(db(), "spring"))!,
      "me@shop.test",
      Date.now(),
    );
    expect(sent.map((m) => `${m.variant}:${m.status}`)).toEqual(["a:sent", "b:sent"]);
    expect(requests.accepted.map((e) => `${e.to[0]} ${e.subject}`)).toEqual(["me@shop.test [Test a] A!", "me@shop.test [Test b] B!"]);
  });

  it("the report shows each variant's numbers, the test and the winner with its reason", async () => {
    await seedAudience();
    await callJson("/v1/broadcasts/spring", {
      method: "PUT",
      body: {
        name: "Spring",
        template: "spring",
        audience: { all: true },
        ab_test: { variants: [{ subject: "A!" }, { subject: "B!" }], sample_percent: 20, metric: "click_rate", wait: "1h" },
      },
    });
    const winner = { variant: "b", reason: "higher_rate_not_significant", p_value: 0.2, decided_at: "2026-03-01T13:00:00.000Z" };
    await env.DB.prepare("UPDATE broadcasts SET status = 'sent', winner = ?, started_at = 1, finished_at = 2 WHERE id = 'spring'")
      .bind(JSON.stringify(winner))
      .run();
    const day = new Date().toISOString().slice(0, 10);
    for (const [variant, sent, clicks] of [
      ["a", 10, 1],
      ["b", 10, 4],
      ["", 80, 20],
    ] as const)
      await env.DB.prepare(
        "INSERT INTO stats_daily (flow_id, day, step_id, variant, sent, unique_opens, unique_clicks, conversions, revenue) VALUES ('broadcast:spring', ?, '', ?, ?, ?, ?, 1, 25)",
      )
        .bind(day, variant, sent, clicks * 2, clicks)
        .run();
    const report = await page("/admin/broadcasts/spring", await login());
    expect(report.html).toContain('<tr data-row="a"><td>A: A! · spring</td><td class="n">10</td>');
    expect(report.html).toContain('<tr data-row="b"><td>B: B! · spring</td><td class="n">10</td>');
    expect(report.html).toContain('<tr data-row="total"><td>All</td><td class="n">100</td>');
    expect(report.html).toContain("winner B, the higher rate, though not significantly better");
    expect(report.html).toContain('data-stat="revenue" data-value="75"');
    expect(report.html).not.toContain('http-equiv="refresh"');
    const list = await page("/admin/broadcasts", await login());
    expect(list.html).toMatch(/<tr data-broadcast="spring">.*<td class="n">100<\/td><td class="n">50.0%<\/td><td class="n">25.0%<\/td>/s);
  });

  it("an unknown broadcast is a 404 page, not an error", async () => {
    const cookie = await login();
    expect((await page("/admin/broadcasts/nope", cookie)).status).toBe(404);
    expect((await page("/admin/broadcasts/nope/confirm", cookie)).status).toBe(404);
    const res = await call("/admin/broadcasts/nope/send", { auth: false, headers: { cookie } });
    expect(res.status).toBe(404);
  });
});

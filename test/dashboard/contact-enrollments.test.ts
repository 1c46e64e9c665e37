import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { csrfOf, login, page, post } from "../helpers/dashboard";
import { activeFlow, contactId, enrollmentsOf, handEnrolledFlow, messagesOf } from "../helpers/flows";

const welcome = handEnrolledFlow("welcome", "Welcome series", ["welcome-1", "welcome-2"]);

async function contactPage(id: string, cookie: string) {
  const shown = await page(`/admin/contacts/${id}`, cookie);
  expect(shown.status).toBe(200);
  return { html: shown.html, csrf: csrfOf(shown.html) };
}

describe("enrolling in a flow and removing from one on the contact page", () => {
  it("offers the active flows, enrolls (the first email goes out), then removes and cancels the queued mail", async () => {
    await activeFlow(welcome);
    await activeFlow({ ...welcome, id: "drafted", name: "Drafted" });
    expect((await callJson("/v1/flows/drafted/pause", { method: "POST" })).status).toBe(200);
    const id = await contactId("ada@example.com");
    const cookie = await login();
    const before = await contactPage(id, cookie);
    expect(before.html).toContain('<option value="welcome">Welcome series (welcome)</option>');
    expect(before.html).not.toContain('value="drafted"');
    expect(before.html).not.toContain("Remove from flow");

    const enrolled = await post(`/admin/contacts/${id}/enrollments`, cookie, { _csrf: before.csrf, flow: "welcome" });
    expect(enrolled.status).toBe(303);
    expect(enrolled.headers.get("location")).toBe(`/admin/contacts/${id}?done=enrolled`);
    expect((await messagesOf(id)).map((m) => `${m.step_id}:${m.template_id}:${m.status}`)).toEqual(["hello:welcome-1:sent"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "welcome", status: "active", current_step: "pause" }]);
    const after = await contactPage(id, cookie);
    expect(after.html).toContain(`action="/admin/contacts/${id}/enrollments/welcome/remove"`);
    expect(after.html).toContain("Remove from flow");

    // The first email still waiting for a retry: queued mail the removal must take back.
    await env.DB.prepare("UPDATE messages SET status = 'queued', due_at = ?, sent_at = NULL WHERE contact_id = ?")
      .bind(Date.now() + 300_000, id)
      .run();
    const removed = await post(`/admin/contacts/${id}/enrollments/welcome/remove`, cookie, { _csrf: after.csrf });
    expect(removed.status).toBe(303);
    expect(removed.headers.get("location")).toBe(`/admin/contacts/${id}?done=removed`);
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "exited", exit_reason: "removed", current_step: null }]);
    expect((await messagesOf(id)).map((m) => `${m.status}:${m.reason}`)).toEqual(["cancelled:removed"]);
    const ended = await contactPage(id, cookie);
    expect(ended.html).toContain("Removed from the flow by hand");
    expect(ended.html).not.toContain("Remove from flow</button>");

    const again = await post(`/admin/contacts/${id}/enrollments/welcome/remove`, cookie, { _csrf: ended.csrf });
    expect(again.status).toBe(404);
    expect(await again.text()).toContain("not running in that flow");
  });

  it("shows the reason when the flow's rules refuse, and writes nothing", async () => {
    await activeFlow(welcome);
    const id = await contactId("bo@example.com");
    const cookie = await login();
    const { csrf } = await contactPage(id, cookie);
    expect((await post(`/admin/contacts/${id}/enrollments`, cookie, { _csrf: csrf, flow: "welcome" })).status).toBe(303);
    const twice = await post(`/admin/contacts/${id}/enrollments`, cookie, { _csrf: csrf, flow: "welcome" });
    expect(twice.status).toBe(409);
    expect(await twice.text()).toContain("already running in this flow");
    expect(await enrollmentsOf(id)).toHaveLength(1);

    const unsubscribed = await contactId("un@example.com", { consent: "unsubscribed" });
    const refused = await post(`/admin/contacts/${unsubscribed}/enrollments`, cookie, { _csrf: csrf, flow: "welcome" });
    expect(refused.status).toBe(422);
    const html = await refused.text();
    expect(html).toContain('data-problem="enrollment"');
    expect(html).toContain("unsubscribed, so a marketing flow may not enroll them");
    expect(await enrollmentsOf(unsubscribed)).toHaveLength(0);
    expect(await messagesOf(unsubscribed)).toHaveLength(0);

    const unknown = await post(`/admin/contacts/${id}/enrollments`, cookie, { _csrf: csrf, flow: "no such flow" });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain("No such flow");
  });

  it("refuses forged forms (no token, a wrong token, another origin) with 403 and changes nothing", async () => {
    await activeFlow(welcome);
    const id = await contactId("cy@example.com");
    const cookie = await login();
    const { csrf } = await contactPage(id, cookie);
    const forged = [
      post(`/admin/contacts/${id}/enrollments`, cookie, { flow: "welcome" }),
      post(`/admin/contacts/${id}/enrollments`, cookie, { _csrf: `${csrf}x`, flow: "welcome" }),
      post(`/admin/contacts/${id}/enrollments`, cookie, { _csrf: csrf, flow: "welcome" }, "https://evil.example"),
    ];
    for (const res of await Promise.all(forged)) expect(res.status).toBe(403);
    expect(await enrollmentsOf(id)).toHaveLength(0);

    expect((await post(`/admin/contacts/${id}/enrollments`, cookie, { _csrf: csrf, flow: "welcome" })).status).toBe(303);
    const removals = [
      post(`/admin/contacts/${id}/enrollments/welcome/remove`, cookie, {}),
      post(`/admin/contacts/${id}/enrollments/welcome/remove`, cookie, { _csrf: csrf }, "https://evil.example"),
    ];
    for (const res of await Promise.all(removals)) expect(res.status).toBe(403);
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "active" }]);
  });
});

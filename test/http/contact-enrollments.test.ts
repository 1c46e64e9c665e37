import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ContactTimer } from "../../src/contact/contact-timer";
import { callJson } from "../helpers/api";
import { activeFlow, contactId, enrollmentsOf, handEnrolledFlow, messagesOf, timerOf } from "../helpers/flows";

const onboarding = handEnrolledFlow("onboarding", "Onboarding", ["onboard-1", "onboard-2"]);

const enroll = (who: string, body: Record<string, unknown>) =>
  callJson(`/v1/contacts/${encodeURIComponent(who)}/enrollments`, { method: "POST", body });
const remove = (who: string, flow: string) => callJson(`/v1/contacts/${encodeURIComponent(who)}/enrollments/${flow}`, { method: "DELETE" });

describe("POST /v1/contacts/:idOrEmail/enrollments", () => {
  it("enrolls the contact now: the flow's first email is sent, the enrollment is mirrored to D1", async () => {
    await activeFlow(onboarding);
    const id = await contactId("ada@example.com");
    const res = await enroll("ada@example.com", { flow: "onboarding" });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body).toMatchObject({ flow_id: "onboarding", status: "active", current_step: "pause", exit_reason: null });
    const [hello, ...others] = await messagesOf(id);
    expect(others).toHaveLength(0);
    expect(hello).toMatchObject({ step_id: "hello", template_id: "onboard-1", to_email: "ada@example.com", status: "sent" });
    // Sent without a provider: the rendered email sits in the dev mailbox.
    const sent = await env.DB.prepare("SELECT provider_id, subject FROM messages WHERE id = ?")
      .bind(hello?.id)
      .first<Record<string, string>>();
    expect(sent?.provider_id).toMatch(/^dev_/);
    expect(sent?.subject).toBe("Subject onboard-1");
    expect(await enrollmentsOf(id)).toMatchObject([{ id: res.body.id, flow_id: "onboarding", status: "active", current_step: "pause" }]);
    const [state] = await runInDurableObject(timerOf(id), (timer) => (timer as unknown as ContactTimer).enrollmentStates());
    expect(state).toMatchObject({ id: res.body.id, status: "active", trigger: { name: "enrolled_by_hand" } });
    const entered = await env.DB.prepare("SELECT sum(entered) AS n FROM stats_daily WHERE flow_id = 'onboarding'").first("n");
    expect(entered).toBe(1);
  });

  it("refuses a second enrollment in a flow without re-entry, with the reason, and writes nothing", async () => {
    await activeFlow(onboarding);
    const id = await contactId("bo@example.com");
    expect((await enroll(id, { flow: "onboarding" })).status).toBe(201);
    const again = await enroll(id, { flow: "onboarding" });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "already_enrolled" });
    expect(await remove(id, "onboarding")).toMatchObject({ status: 200 });
    const reentry = await enroll(id, { flow: "onboarding" });
    expect(reentry.status).toBe(409);
    expect(reentry.body.error.code).toBe("reentry");
    expect(reentry.body.error.message).toContain("re-entry rule (never)");
    expect(await enrollmentsOf(id)).toHaveLength(1);
    expect(await messagesOf(id)).toHaveLength(1);
  });

  it("refuses re-entry inside a cooldown with the same code, saying the cooldown has not passed", async () => {
    await activeFlow({ ...onboarding, id: "cooling", reentry: { cooldown: "30d" } });
    const id = await contactId("cool@example.com");
    expect((await enroll(id, { flow: "cooling" })).status).toBe(201);
    expect(await remove(id, "cooling")).toMatchObject({ status: 200 });
    const again = await enroll(id, { flow: "cooling" });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ code: "reentry", message: expect.stringContaining("cooldown has not passed") });
  });

  it("is idempotent for the same request id", async () => {
    await activeFlow({ ...onboarding, reentry: "after_exit" });
    const id = await contactId("cy@example.com");
    const first = await enroll(id, { flow: "onboarding", request_id: "ticket-1" });
    expect(first.status).toBe(201);
    const replay = await enroll(id, { flow: "onboarding", request_id: "ticket-1" });
    expect(replay.status).toBe(200);
    expect(replay.body.id).toBe(first.body.id);
    expect(await messagesOf(id)).toHaveLength(1);
    expect(await enrollmentsOf(id)).toHaveLength(1);
  });

  it("does not enroll an unsubscribed, unconfirmed or suppressed contact in a marketing flow; a transactional flow may", async () => {
    await activeFlow(onboarding);
    await activeFlow({ ...onboarding, id: "receipts", name: "Receipts", settings: { transactional: true } });
    const unsubscribed = await contactId("un@example.com", { consent: "unsubscribed" });
    const refused = await enroll(unsubscribed, { flow: "onboarding" });
    expect(refused.status).toBe(422);
    expect(refused.body.error).toMatchObject({ code: "unsubscribed" });
    expect(refused.body.error.message).toContain("unsubscribed");
    const none = await contactId("none@example.com", { consent: "none" });
    expect((await enroll(none, { flow: "onboarding" })).body.error.code).toBe("not_subscribed");
    const bounced = await contactId("bounced@example.com");
    expect((await callJson("/v1/suppressions", { method: "POST", body: { emails: ["bounced@example.com"] } })).status).toBeLessThan(300);
    const suppressed = await enroll(bounced, { flow: "onboarding" });
    expect(suppressed.status).toBe(422);
    expect(suppressed.body.error.code).toBe("suppressed");
    for (const who of [unsubscribed, none, bounced]) {
      expect(await enrollmentsOf(who)).toHaveLength(0);
      expect(await messagesOf(who)).toHaveLength(0);
    }
    expect((await enroll(unsubscribed, { flow: "receipts" })).status).toBe(201);
    expect((await messagesOf(unsubscribed)).map((m) => `${m.step_id}:${m.kind}:${m.status}`)).toEqual(["hello:transactional:sent"]);
  });

  it("answers 404 for an unknown contact or flow, 409 for a paused flow, 422 for a bad body", async () => {
    await activeFlow(onboarding);
    const id = await contactId("dee@example.com");
    expect((await enroll("nobody@example.com", { flow: "onboarding" })).status).toBe(404);
    expect((await enroll(id, { flow: "nope" })).status).toBe(404);
    expect((await callJson("/v1/flows/onboarding/pause", { method: "POST" })).status).toBe(200);
    const paused = await enroll(id, { flow: "onboarding" });
    expect(paused.status).toBe(409);
    expect(paused.body.error.code).toBe("flow_inactive");
    for (const body of [{}, { flow: "" }, { flow: "a b" }, { flow: "onboarding", request_id: "x".repeat(101) }, { flow: 7 }]) {
      const bad = await enroll(id, body);
      expect(bad.status, JSON.stringify(body)).toBe(422);
      expect(bad.body.error.code).toBe("validation_failed");
    }
    expect(await enrollmentsOf(id)).toHaveLength(0);
  });
});

describe("DELETE /v1/contacts/:idOrEmail/enrollments/:flow", () => {
  it("ends the running enrollment as removed and cancels its queued mail", async () => {
    await activeFlow(onboarding);
    const id = await contactId("eve@example.com");
    await enroll(id, { flow: "onboarding" });
    // A message still waiting for a retry is queued mail the removal takes back.
    await env.DB.prepare("UPDATE messages SET status = 'queued', due_at = ?, sent_at = NULL WHERE contact_id = ?")
      .bind(Date.now() + 300_000, id)
      .run();
    const res = await remove("eve@example.com", "onboarding");
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ flow_id: "onboarding", status: "exited", exit_reason: "removed", current_step: null });
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "exited", exit_reason: "removed", current_step: null }]);
    expect((await messagesOf(id)).map((m) => `${m.status}:${m.reason}`)).toEqual(["cancelled:removed"]);
    const [state] = await runInDurableObject(timerOf(id), (timer) => (timer as unknown as ContactTimer).enrollmentStates());
    expect(state).toMatchObject({ status: "exited", endReason: "removed", wakeAt: null });
    // Nothing left to wake for.
    expect(await alarmIsSet(id)).toBe(false);
    expect((await remove(id, "onboarding")).body.error.code).toBe("not_enrolled");
    expect((await remove("nobody@example.com", "onboarding")).status).toBe(404);
  });
});

async function alarmIsSet(id: string): Promise<boolean> {
  return runInDurableObject(timerOf(id), async (_instance, state) => (await state.storage.getAlarm()) !== null);
}

/**
 * Erasing a contact keeps only a keyed hash of the address on the suppression list (SPEC section 9): a later event or
 * import that re-creates the address is never mailed, a complaint or bounce survives the erase, and only the person
 * opting in again themselves (a confirmed double opt-in) clears it.
 */

import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { openDatabase } from "../../src/db/client";
import { messages } from "../../src/db/schema";
import { deliverDue } from "../../src/pipeline/pipeline";
import { confirmSubscription } from "../../src/tracking/consent";
import { callJson } from "../helpers/api";
import { countRowsNaming } from "../helpers/db";
import { activeFlow, contactId, createTemplates, messagesOf, timerOf } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";
import { acceptAll, fakeResend, providerEnv } from "../helpers/resend";

afterEach(() => {
  vi.restoreAllMocks();
});

interface SuppressionRow {
  email: string;
  reason: string;
  detail: string | null;
}

async function suppressionRows(): Promise<SuppressionRow[]> {
  return (await env.DB.prepare("SELECT email, reason, detail FROM suppressions ORDER BY email").all<SuppressionRow>()).results;
}

async function erase(idOrEmail: string): Promise<void> {
  expect((await callJson(`/v1/contacts/${encodeURIComponent(idOrEmail)}`, { method: "DELETE" })).status).toBe(204);
}

async function queueMail(contact: string, to: string, kind: "marketing" | "transactional"): Promise<string> {
  await createTemplates("erase-t");
  const now = Date.now();
  const id = `msg_erase_${crypto.randomUUID().slice(0, 8)}`;
  await openDatabase(env.DB)
    .insert(messages)
    .values({ id, contactId: contact, toEmail: to, kind, templateId: "erase-t", status: "queued", dueAt: now - 1000, createdAt: now });
  return id;
}

async function messageRow(id: string) {
  return env.DB.prepare("SELECT status, reason FROM messages WHERE id = ?").bind(id).first<{ status: string; reason: string | null }>();
}

describe("erasing a contact keeps only a keyed hash of the address", () => {
  it("leaves one suppression whose key is an HMAC, not the address, and lists no hash as an address", async () => {
    const id = await contactId("hash-me@example.com");

    await erase(id);

    const rows = await suppressionRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.email).toMatch(/^hmac:[0-9a-f]{64}$/);
    expect(rows[0]).toMatchObject({ reason: "erased", detail: null });
    expect(JSON.stringify(rows)).not.toContain("hash-me");
    const listed = await callJson("/v1/suppressions");
    expect(listed.status).toBe(200);
    expect(listed.body.suppressions).toEqual([]);
  });

  it("an erased address re-created by an event is not mailed", async () => {
    await activeFlow({
      id: "erased-go",
      name: "On go",
      trigger: { event: "erased_go" },
      // Transactional: the event re-creates the address with consent none, and only the erased key may stop the mail.
      settings: { transactional: true },
      steps: [{ id: "hi", type: "email", template: "erased-hi" }],
    });
    await erase(await contactId("comeback@example.com"));

    const posted = await callJson("/v1/events", { method: "POST", body: { email: "comeback@example.com", name: "erased_go" } });

    expect(posted.status).toBe(202);
    const recreated = posted.body.events[0].contact_id as string;
    expect((await messagesOf(recreated)).map((m) => `${m.status}:${m.reason}`)).toEqual(["suppressed:suppressed: erased"]);
    // Nor through the provider, whatever the kind: transactional mail is stopped too.
    const requests = fakeResend();
    const transactional = await queueMail(recreated, "comeback@example.com", "transactional");
    await deliverDue(pipelineFor(providerEnv()));
    expect(requests).toHaveLength(0);
    expect(await messageRow(transactional)).toEqual({ status: "suppressed", reason: "suppressed: erased" });
  });

  it("an erased complainer stays suppressed", async () => {
    const id = await contactId("complainer@example.com");
    await env.DB.prepare("INSERT INTO suppressions (email, reason, detail, created_at) VALUES (?, 'complaint', ?, ?)")
      .bind("complainer@example.com", "complaint from complainer@example.com", Date.now())
      .run();

    await erase(id);

    const rows = await suppressionRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ reason: "complaint", detail: null });
    expect(rows[0]?.email).toMatch(/^hmac:/);
    // Re-created and asked to confirm: not even the confirmation goes to someone who complained.
    const put = await callJson("/v1/contacts", { method: "PUT", body: { email: "complainer@example.com", consent: "pending" } });
    expect(put.status).toBe(201);
    expect((await messagesOf(put.body.id)).map((m) => `${m.kind}:${m.status}:${m.reason}`)).toEqual([
      "confirmation:suppressed:suppressed: complaint",
    ]);
  });

  it("a confirmed double opt-in clears the erased hash", async () => {
    await activeFlow({
      id: "erased-welcome",
      name: "Welcome",
      trigger: { event: "subscribed" },
      steps: [{ id: "hi", type: "email", template: "erased-welcome" }],
    });
    await erase(await contactId("returning@example.com"));
    const put = await callJson("/v1/contacts", { method: "PUT", body: { email: "returning@example.com", consent: "pending" } });
    const id = put.body.id as string;
    // The confirmation is the one mail an erased address may get: it is how they come back.
    expect((await messagesOf(id)).map((m) => `${m.kind}:${m.status}`)).toEqual(["confirmation:sent"]);

    // Issued after the contact became pending, as the confirmation link was.
    const issuedAt = Date.now();
    expect(await confirmSubscription(pipelineFor(env), id, issuedAt, issuedAt)).toBe("valid");

    expect(await suppressionRows()).toEqual([]);
    const mail = (await messagesOf(id)).map((m) => `${m.kind}:${m.status}`);
    expect(mail).toEqual(["confirmation:sent", "marketing:sent"]);
  });

  it("lifting the address's suppression by hand lifts its erased hash too", async () => {
    await erase(await contactId("lift-me@example.com"));
    expect(await suppressionRows()).toHaveLength(1);

    expect((await callJson("/v1/suppressions/lift-me%40example.com", { method: "DELETE" })).status).toBe(204);

    expect(await suppressionRows()).toEqual([]);
  });

  it("a send in flight for a contact erased meanwhile re-creates nothing under their id", async () => {
    const id = await contactId("in-flight@example.com");
    await queueMail(id, "in-flight@example.com", "marketing");
    const requests = fakeResend(async (request, index) => {
      await erase(id);
      return acceptAll(request, index);
    });

    await deliverDue(pipelineFor(providerEnv()));

    expect(requests.accepted).toHaveLength(1);
    expect(await countRowsNaming(id, "in-flight@example.com")).toBe(0);
    expect(await timerOf(id).receivedEvents()).toEqual([]);
    expect((await suppressionRows()).map((r) => r.reason)).toEqual(["erased"]);
  });
});

/**
 * Consent `none` (SPEC section 9): a contact created without an explicit consent never opted in and gets
 * transactional mail only; consent becoming `subscribed`, by any path, emits `subscribed` exactly once.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { activeFlow, enrollmentsOf, messagesOf } from "../helpers/flows";

const subscribedEvents = (id: string) =>
  env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ? AND name = 'subscribed'").bind(id).first("n");

describe("a contact created without an explicit consent has consent none", () => {
  it("an order for an unknown address creates a none contact who gets the order's transactional mail and no marketing mail", async () => {
    await activeFlow({
      id: "none-receipt",
      name: "Receipt",
      trigger: { event: "order_placed" },
      settings: { transactional: true },
      steps: [{ id: "receipt", type: "email", template: "none-receipt" }],
    });
    await activeFlow({
      id: "none-upsell",
      name: "Upsell",
      trigger: { event: "order_placed" },
      steps: [{ id: "upsell", type: "email", template: "none-upsell" }],
    });
    const posted = await callJson("/v1/events", { method: "POST", body: { email: "guest@example.com", name: "order_placed", value: 30 } });
    expect(posted.status).toBe(202);
    const id = posted.body.events[0].contact_id as string;
    expect(await env.DB.prepare("SELECT consent FROM contacts WHERE id = ?").bind(id).first("consent")).toBe("none");
    expect((await messagesOf(id)).map((m) => `${m.template_id}:${m.kind}`)).toEqual(["none-receipt:transactional"]);
    const upsell = (await enrollmentsOf(id)).find((e) => e.flow_id === "none-upsell");
    expect(upsell).toMatchObject({ status: "exited", exit_reason: "not_subscribed" });
  });

  it("PUT /v1/contacts without consent creates none and keeps a stored consent", async () => {
    const created = await callJson("/v1/contacts", { method: "PUT", body: { email: "lead-none@example.com" } });
    expect(created.body.consent).toBe("none");
    await callJson("/v1/contacts", { method: "PUT", body: { email: "sub-kept@example.com", consent: "subscribed" } });
    const updated = await callJson("/v1/contacts", { method: "PUT", body: { email: "sub-kept@example.com", first_name: "K" } });
    expect(updated.body.consent).toBe("subscribed");
  });
});

describe("consent becoming subscribed emits subscribed exactly once, by any path", () => {
  it("a none contact who subscribes later enters the welcome flow once", async () => {
    await activeFlow({
      id: "none-welcome",
      name: "Welcome",
      trigger: { event: "subscribed" },
      steps: [{ id: "hi", type: "email", template: "none-welcome" }],
    });
    const { body } = await callJson("/v1/events", { method: "POST", body: { email: "later@example.com", name: "order_placed" } });
    const id = body.events[0].contact_id as string;
    expect(await subscribedEvents(id)).toBe(0);
    await callJson("/v1/contacts", { method: "PUT", body: { email: "later@example.com", consent: "subscribed" } });
    await callJson("/v1/contacts", { method: "PUT", body: { email: "later@example.com", consent: "subscribed" } });
    await callJson("/v1/contacts/batch?trigger_flows=true", {
      method: "POST",
      body: [{ email: "later@example.com", consent: "subscribed" }],
    });
    expect(await subscribedEvents(id)).toBe(1);
    expect((await enrollmentsOf(id)).filter((e) => e.flow_id === "none-welcome")).toHaveLength(1);
    expect((await messagesOf(id)).map((m) => m.template_id)).toContain("none-welcome");
  });

  it("a contact created subscribed by PUT emits subscribed once", async () => {
    const { body } = await callJson("/v1/contacts", { method: "PUT", body: { email: "direct@example.com", consent: "subscribed" } });
    expect(await subscribedEvents(body.id)).toBe(1);
  });
});

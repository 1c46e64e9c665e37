import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { callJson } from "../helpers/api";
import { activeFlow, contactId, createTemplates, enrollmentsOf, messagesOf, track } from "../helpers/flows";

async function attributesOf(id: string): Promise<Record<string, unknown>> {
  const row = await env.DB.prepare("SELECT attributes FROM contacts WHERE id = ?").bind(id).first<{ attributes: string }>();
  return JSON.parse(row?.attributes ?? "{}");
}

describe("a trigger listing several events, through the API and the ContactTimer", () => {
  it("starts on either event, once per contact while enrolled, and never on an unlisted one", async () => {
    await activeFlow({
      id: "cart",
      name: "Cart",
      trigger: { event: ["checkout_started", "added_to_cart"] },
      steps: [
        { id: "wait", type: "wait", for: "1h" },
        { id: "remind", type: "email", template: "cart-1" },
      ],
    });
    // A second active flow with its own list, so that the lookup must tell the lists apart.
    await activeFlow({ id: "other", name: "Other", trigger: { event: ["order_placed", "refunded"] }, steps: [{ id: "e", type: "exit" }] });
    const a = await contactId("list-a@example.com");
    const b = await contactId("list-b@example.com");
    const c = await contactId("list-c@example.com");
    await track({ email: "list-a@example.com", name: "checkout_started" });
    await track([
      { email: "list-b@example.com", name: "added_to_cart" },
      { email: "list-b@example.com", name: "checkout_started" },
    ]);
    await track({ email: "list-c@example.com", name: "page_viewed" });
    expect(await enrollmentsOf(a)).toMatchObject([{ flow_id: "cart", status: "active", current_step: "wait" }]);
    expect(await enrollmentsOf(b)).toMatchObject([{ flow_id: "cart", status: "active" }]);
    expect(await enrollmentsOf(c)).toEqual([]);
    await track({ email: "list-c@example.com", name: "refunded" });
    expect(await enrollmentsOf(c)).toMatchObject([{ flow_id: "other", status: "exited", exit_reason: "exit_step" }]);
  });
});

describe("update with increment, through the ContactTimer", () => {
  const scoring = {
    id: "scoring",
    name: "Scoring",
    trigger: { event: "page_viewed" },
    reentry: "after_exit",
    steps: [{ id: "score", type: "update", increment: { lead_score: 10, debt: -3 } }],
  };

  it("applies every increment once when many events arrive at once, in one call and in concurrent calls", async () => {
    await activeFlow(scoring);
    const id = await contactId("score@example.com", { attributes: { lead_score: 5, debt: "n/a" } });
    const batch = Array.from({ length: 6 }, (_, i) => ({ id: `pv_batch_${i}`, email: "score@example.com", name: "page_viewed" }));
    await track(batch);
    expect(await attributesOf(id)).toMatchObject({ lead_score: 65, debt: -18 });
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        callJson("/v1/events", { method: "POST", body: { id: `pv_concurrent_${i}`, email: "score@example.com", name: "page_viewed" } }),
      ),
    );
    expect(await attributesOf(id)).toMatchObject({ lead_score: 115, debt: -33 });
    // A redelivered event id is not counted again.
    await track(batch);
    expect(await attributesOf(id)).toMatchObject({ lead_score: 115 });
    expect((await enrollmentsOf(id)).length).toBe(11);
    const changes = await env.DB.prepare(
      "SELECT count(*) AS n FROM events WHERE contact_id = ? AND name = 'attribute_changed' AND properties ->> '$.attribute' = 'lead_score'",
    )
      .bind(id)
      .first<{ n: number }>();
    // One for the contact's creation with lead_score 5, one per increment.
    expect(changes?.n).toBe(12);
  });

  it("creates the attribute from 0 on a contact that has none", async () => {
    await activeFlow(scoring);
    const id = await contactId("score-new@example.com");
    await track({ email: "score-new@example.com", name: "page_viewed" });
    expect(await attributesOf(id)).toEqual({ lead_score: 10, debt: -3 });
  });
});

describe("subject-line variants, through delivery", () => {
  it("sends the step's template under each variant's subject, rendered for the contact, named template#n", async () => {
    await createTemplates("hello");
    await activeFlow({
      id: "subjects",
      name: "Subjects",
      trigger: { event: "signup" },
      steps: [
        {
          id: "hi",
          type: "email",
          template: "hello",
          variants: [
            { subject: "Welcome, {{ contact.first_name }}", weight: 1 },
            { subject: "You are in", weight: 1 },
          ],
        },
      ],
    });
    const seen = new Map<string, string>();
    for (let i = 0; i < 16; i++) {
      const email = `subject-${i}@example.com`;
      const id = await contactId(email, { first_name: `Ann${i}` });
      await track({ email, name: "signup" });
      const [m] = await messagesOf(id);
      const row = await env.DB.prepare("SELECT subject, html FROM messages WHERE id = ?")
        .bind(m?.id)
        .first<{ subject: string; html: string }>();
      expect(m).toMatchObject({ template_id: "hello", status: "sent" });
      expect(row?.html).toContain("<p>hello</p>");
      expect(row?.subject).toBe(m?.variant === "hello#1" ? `Welcome, Ann${i}` : "You are in");
      seen.set(m?.variant ?? "", row?.subject ?? "");
    }
    expect([...seen.keys()].sort()).toEqual(["hello#1", "hello#2"]);
    const stats = await callJson("/v1/flows/subjects/stats");
    const step = stats.body.steps.find((s: { id: string }) => s.id === "hi");
    expect(step.templates).toEqual(["hello"]);
    expect(step.variants.map((v: { template: string }) => v.template).sort()).toEqual(["hello#1", "hello#2"]);
  });

  it("refuses a variant subject whose Liquid does not parse", async () => {
    await createTemplates("hello");
    const res = await callJson("/v1/flows/bad-subject", {
      method: "PUT",
      body: {
        name: "Bad",
        trigger: { event: "x" },
        steps: [
          {
            id: "hi",
            type: "email",
            template: "hello",
            variants: [
              { subject: "Hi {{ contact.first_name ", weight: 1 },
              { subject: "Fine", weight: 1 },
            ],
          },
        ],
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.issues).toMatchObject([{ path: ["steps", 0, "variants", 0, "subject"], code: "liquid_syntax" }]);
  });
});

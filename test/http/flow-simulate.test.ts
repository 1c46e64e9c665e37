import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { callJson } from "../helpers/api";
import { activeFlow, contactId, enrollmentsOf, fireAlarm, messagesOf, sleep, track } from "../helpers/flows";
import { fakeResend } from "../helpers/resend";

afterEach(() => {
  vi.restoreAllMocks();
});

const definition = {
  id: "sim",
  name: "Simulated welcome",
  trigger: { event: ["signup", "joined"] },
  reentry: "never",
  goal: { event: "order_placed" },
  exit_when: [{ event: "refunded" }],
  steps: [
    {
      id: "hello",
      type: "email",
      template: "s-hello",
      variants: [
        { subject: "Hello {{ contact.first_name }}", weight: 1 },
        { subject: "Welcome in, {{ contact.first_name }}", weight: 1 },
      ],
    },
    { id: "pause", type: "wait", for: "2s" },
    { id: "vip", type: "branch", if: { tag: "vip" }, then: "vip_mail", else: "score" },
    { id: "vip_mail", type: "email", template: "s-vip", next: "done" },
    { id: "score", type: "update", increment: { points: 5 } },
    { id: "regular", type: "email", template: "s-regular" },
    { id: "done", type: "exit" },
  ],
};

/** A seeded history, run live through the API and the contacts' alarms: who did what, and what it should do. */
async function liveRun(): Promise<string[]> {
  await activeFlow(definition);
  const people = [
    { email: "sim-plain@example.com", fields: { first_name: "Pia" }, events: ["signup"] },
    { email: "sim-vip@example.com", fields: { first_name: "Vic", tags: ["vip"] }, events: ["signup"] },
    { email: "sim-buyer@example.com", fields: { first_name: "Bo" }, events: ["signup", "order_placed"] },
    { email: "sim-refund@example.com", fields: { first_name: "Ray" }, events: ["joined", "refunded"] },
    { email: "sim-browser@example.com", fields: { first_name: "Bri" }, events: ["page_viewed"] },
    { email: "sim-twice@example.com", fields: { first_name: "Tia" }, events: ["signup", "joined"] },
    { email: "sim-gone@example.com", fields: { first_name: "Gus", consent: "unsubscribed" }, events: ["signup"] },
    { email: "sim-joiner@example.com", fields: { first_name: "Jo" }, events: ["joined"] },
  ];
  const ids: string[] = [];
  for (const p of people) {
    ids.push(await contactId(p.email, p.fields));
    await track(p.events.map((name) => ({ email: p.email, name })));
  }
  await sleep(2200);
  for (const id of ids) await fireAlarm(id);
  for (const id of ids) expect((await enrollmentsOf(id)).every((e) => e.status !== "active")).toBe(true);
  return ids;
}

async function counts() {
  const n = async (table: string) => (await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>())?.n;
  return { messages: await n("messages"), enrollments: await n("enrollments"), events: await n("events"), contacts: await n("contacts") };
}

describe("POST /v1/flows/:id/simulate", () => {
  it("over a seeded history, gives the numbers and the emails a live run of the same events produced, writing nothing", async () => {
    const ids = await liveRun();
    const before = await counts();
    const requests = fakeResend();
    const res = await callJson("/v1/flows/sim/simulate", { method: "POST", body: { days: 1 } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const sim = res.body;

    // Live numbers, read from what the live run left in D1.
    const enrollments = (
      await env.DB.prepare("SELECT contact_id, exit_reason FROM enrollments WHERE flow_id = 'sim'").all<{
        contact_id: string;
        exit_reason: string;
      }>()
    ).results;
    const live = (
      await env.DB.prepare(
        "SELECT contact_id, step_id, template_id, variant, subject, status FROM messages WHERE flow_id = 'sim' ORDER BY due_at, rowid",
      ).all<{
        contact_id: string;
        step_id: string;
        template_id: string;
        variant: string | null;
        subject: string;
        status: string;
      }>()
    ).results;
    const byReason: Record<string, number> = {};
    for (const e of enrollments) byReason[e.exit_reason] = (byReason[e.exit_reason] ?? 0) + 1;

    expect(sim.contacts_replayed).toBe(7); // everyone with signup or joined; the browser never matched the trigger
    expect(sim.entered).toBe(enrollments.length);
    expect(sim.contacts_entered).toBe(new Set(enrollments.map((e) => e.contact_id)).size);
    expect(sim.goal_reached).toBe(byReason.goal);
    expect(sim.ended).toEqual(byReason);
    expect(sim.still_active).toBe(0);
    expect(sim.bounds).toEqual({ contacts: 500, events_per_contact: 100, days: 30, contacts_truncated: false });

    // Step by step: the emails each step queued live, and the update's effect on the contacts.
    for (const s of sim.steps) expect([s.id, s.emails]).toEqual([s.id, live.filter((m) => m.step_id === s.id).length]);
    const scored = await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE attributes ->> '$.points' = 5").first<{ n: number }>();
    expect(sim.steps.find((s: { id: string }) => s.id === "score").reached).toBe(scored?.n);
    expect(sim.steps.map((s: { id: string; reached: number }) => `${s.id}:${s.reached}`)).toEqual([
      "hello:7", // the unsubscribed contact reaches it too, and exits there
      "pause:6", // the buyer and the refunder wait until their order or refund, which comes at once
      "vip:4",
      "vip_mail:1",
      "score:3",
      "regular:3",
      "done:4", // the VIP path ends there too
    ]);

    // The sample contacts' exact emails: the template, the variant and the subject the live send rendered.
    expect(sim.samples.length).toBeGreaterThanOrEqual(5);
    expect(live.filter((m) => m.status === "sent").length).toBeGreaterThan(5);
    for (const sample of sim.samples) {
      expect(ids).toContain(sample.contact_id);
      const theirs = live.filter((m) => m.contact_id === sample.contact_id);
      // A message cancelled before it went out (the buyer's order came in the same call) was never rendered live.
      const seen = (m: { status: string }, subject: unknown) => (m.status === "sent" ? subject : null);
      expect(
        sample.emails.map((m: Record<string, unknown>, i: number) => [
          m.step_id,
          m.template_id,
          m.variant,
          seen(theirs[i] ?? { status: "" }, m.subject),
        ]),
      ).toEqual(theirs.map((m) => [m.step_id, m.template_id, m.variant, seen(m, m.subject)]));
      expect(sample.emails.every((m: { subject: string }) => !m.subject.includes("{{"))).toBe(true);
    }

    expect(await counts()).toEqual(before);
    expect(requests).toHaveLength(0);
  });

  it("simulates a draft from the body through the same engine: the same flow gives the same answer, a change shows", async () => {
    await liveRun();
    const before = await counts();
    const stored = (await callJson("/v1/flows/sim/simulate", { method: "POST", body: { days: 1 } })).body;
    const same = await callJson("/v1/flows/simulate", { method: "POST", body: { definition, days: 1 } });
    expect(same.status).toBe(200);
    const strip = (r: Record<string, unknown>) => ({ ...r, window: null });
    expect(strip(same.body)).toEqual(strip(stored));

    // Without its goal, the buyer is no longer taken out after the first email.
    const { goal: _goal, ...noGoal } = definition;
    const draft = await callJson("/v1/flows/simulate", { method: "POST", body: { definition: { ...noGoal, id: "sim-draft" }, days: 1 } });
    expect(draft.status).toBe(200);
    expect(draft.body.flow_id).toBe("sim-draft");
    expect(draft.body.goal_reached).toBe(0);
    expect(draft.body.steps.find((s: { id: string }) => s.id === "regular").emails).toBe(4);
    expect(await counts()).toEqual(before);
  });

  it("refuses what it cannot replay and bad input with a 4xx, writing nothing", async () => {
    await activeFlow(definition);
    expect((await callJson("/v1/flows/nope/simulate", { method: "POST", body: {} })).status).toBe(404);
    const tooLong = await callJson("/v1/flows/sim/simulate", { method: "POST", body: { days: 31 } });
    expect(tooLong.status).toBe(422);
    const segment = await callJson("/v1/flows/simulate", {
      method: "POST",
      body: { definition: { ...definition, trigger: { segment_entered: "vips" } } },
    });
    expect(segment.status).toBe(422);
    expect(segment.body.error.code).toBe("simulation_unsupported");
    const missing = await callJson("/v1/flows/simulate", {
      method: "POST",
      body: { definition: { ...definition, steps: [{ id: "x", type: "email", template: "no-such-template" }] } },
    });
    expect(missing.status).toBe(422);
    expect(missing.body.error.issues).toMatchObject([{ code: "unknown_template" }]);
    expect((await callJson("/v1/flows/simulate", { method: "POST", body: { days: 3 } })).status).toBe(422);
  });
});

describe("simulation bounds", () => {
  it("replays at most 500 contacts and says so when more matched", async () => {
    await activeFlow({ ...definition, id: "sim-bound" });
    await callJson("/v1/flows/sim-bound/pause", { method: "POST" });
    // 501 contacts with a signup each, written straight to D1 (the flow is paused, so nothing runs live).
    const now = Date.now();
    await env.DB.prepare(
      `INSERT INTO contacts (id, email, consent, consent_changed_at, created_at, updated_at)
       SELECT 'c_bound_' || value, 'bound-' || value || '@example.com', 'subscribed', ?1, ?1, ?1 FROM json_each(?2)`,
    )
      .bind(now, JSON.stringify(Array.from({ length: 501 }, (_, i) => i)))
      .run();
    await env.DB.prepare(
      `INSERT INTO events (id, contact_id, name, properties, source, machine, ts, received_at)
       SELECT 'evt_bound_' || value, 'c_bound_' || value, 'signup', '{}', 'api', 0, ?1 - 60000, ?1 FROM json_each(?2)`,
    )
      .bind(now, JSON.stringify(Array.from({ length: 501 }, (_, i) => i)))
      .run();
    const started = Date.now();
    const res = await callJson("/v1/flows/sim-bound/simulate", { method: "POST", body: { days: 1 } });
    expect(res.status).toBe(200);
    expect(res.body.contacts_replayed).toBe(500);
    expect(res.body.bounds.contacts_truncated).toBe(true);
    expect(res.body.entered).toBe(500);
    expect(res.body.steps.find((s: { id: string }) => s.id === "regular").emails).toBe(500);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await messagesOf("c_bound_0")).toEqual([]);
  });
});

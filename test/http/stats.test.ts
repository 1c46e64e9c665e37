import { describe, expect, it } from "vitest";
import { bumpRollups } from "../../src/reports/rollups";
import { callJson } from "../helpers/api";
import { DAY, db, event, insertContact, insertFlow, insertMessage, store } from "../reports/seed";

const T0 = Date.UTC(2026, 10, 2, 10, 0, 0);
const range = "from=2026-11-01&to=2026-11-07";

const welcome = {
  id: "welcome",
  name: "Welcome series",
  steps: [
    { id: "hello", type: "email", template: "welcome-1" },
    { id: "pause", type: "wait", for: "2d" },
    {
      id: "value",
      type: "email",
      variants: [
        { template: "welcome-2a", weight: 50 },
        { template: "welcome-2b", weight: 50 },
      ],
      winner: { metric: "click_rate", after: "3d" },
    },
  ],
};

/** Two contacts through the welcome flow: sends, opens (one machine), a click and an attributed order. */
async function seedWelcome() {
  await insertFlow("welcome", welcome);
  await insertContact("c1");
  await insertContact("c2");
  await bumpRollups(db(), [
    { ts: T0, flowId: "welcome", stepId: null, variant: null, counter: "entered", amount: 2 },
    { ts: T0 + 2 * DAY, flowId: "welcome", stepId: null, variant: null, counter: "converted" },
  ]);
  const msgs = [
    { id: "h1", contactId: "c1", flowId: "welcome", stepId: "hello", variant: null },
    { id: "h2", contactId: "c2", flowId: "welcome", stepId: "hello", variant: null },
    { id: "v1", contactId: "c1", flowId: "welcome", stepId: "value", variant: "welcome-2a" },
    { id: "v2", contactId: "c2", flowId: "welcome", stepId: "value", variant: "welcome-2b" },
  ];
  for (const m of msgs) await insertMessage(m);
  await store(
    [
      event("email_sent", "c1", T0, { messageId: "h1" }),
      event("email_sent", "c2", T0, { messageId: "h2" }),
      event("email_opened", "c1", T0 + 1000, { messageId: "h1" }),
      event("email_opened", "c2", T0 + 1000, { messageId: "h2", machine: true }),
      event("email_sent", "c1", T0 + 2 * DAY, { messageId: "v1" }),
      event("email_sent", "c2", T0 + 2 * DAY, { messageId: "v2" }),
      event("email_clicked", "c2", T0 + 2 * DAY + 1000, { messageId: "v2" }),
      event("unsubscribed", "c1", T0 + 2 * DAY + 2000, { messageId: "v1" }),
    ],
    T0 + 3 * DAY,
  );
  await store([event("order_placed", "c2", T0 + 2 * DAY + 5000, { value: 80 })], T0 + 3 * DAY);
}

describe("GET /v1/flows/:id/stats reports per flow, step and variant", () => {
  it("totals, steps in definition order with their numbers and rates, variants and the A/B comparison", async () => {
    await seedWelcome();
    const { status, body } = await callJson(`/v1/flows/welcome/stats?${range}`);
    expect(status).toBe(200);
    expect(body.flow).toEqual({ id: "welcome", name: "Welcome series", status: "active" });
    expect(body.totals).toMatchObject({
      entered: 2,
      sent: 4,
      opened: 2,
      clicked: 1,
      machine_opened: 1,
      unsubscribed: 1,
      converted: 1,
      goals: 1,
      revenue: 80,
    });
    expect(body.totals.rates).toMatchObject({
      open_rate: 0.5,
      click_rate: 0.25,
      conversion_rate: 0.25,
      revenue_per_recipient: 20,
      goal_rate: 0.5,
    });
    expect(body.steps.map((s: any) => [s.id, s.type, s.sent, s.opened, s.clicked, s.next])).toEqual([
      ["hello", "email", 2, 1, 0, [{ step: "pause", label: null }]],
      ["pause", "wait", 0, 0, 0, [{ step: "value", label: null }]],
      ["value", "email", 2, 1, 1, []],
    ]);
    expect(body.steps[1].summary).toBe("for 2d");
    const value = body.steps[2];
    expect(value.variants.map((v: any) => [v.template, v.sent, v.clicked, v.revenue])).toEqual([
      ["welcome-2a", 1, 0, 0],
      ["welcome-2b", 1, 1, 80],
    ]);
    expect(value.ab).toMatchObject({ metric: "click_rate", leader: "welcome-2b", significant: false, winner: null });
    expect(body.daily).toHaveLength(7);
    expect(body.daily.find((d: any) => d.day === "2026-11-04")).toMatchObject({ sent: 2, clicked: 1, revenue: 80 });
  });

  it("only the days of the range count", async () => {
    await seedWelcome();
    const { body } = await callJson("/v1/flows/welcome/stats?from=2026-11-04&to=2026-11-04");
    expect(body.totals).toMatchObject({ entered: 0, sent: 2, clicked: 1, revenue: 80, goals: 1 });
    expect(body.daily).toHaveLength(1);
  });

  it("an unknown flow is a 404; a reversed or too long range a 422; a bad day a 422", async () => {
    await seedWelcome();
    expect((await callJson(`/v1/flows/nope/stats?${range}`)).status).toBe(404);
    const reversed = await callJson("/v1/flows/welcome/stats?from=2026-11-07&to=2026-11-01");
    expect([reversed.status, reversed.body.error.code]).toEqual([422, "invalid_range"]);
    expect((await callJson("/v1/flows/welcome/stats?from=2020-01-01&to=2026-11-01")).status).toBe(422);
    const bad = await callJson("/v1/flows/welcome/stats?from=yesterday");
    expect([bad.status, bad.body.error.code]).toEqual([422, "validation_failed"]);
    expect((await callJson("/v1/flows/welcome/stats?from=2026-02-31")).status).toBe(422);
  });

  it("requires the admin key", async () => {
    expect((await callJson("/v1/flows/welcome/stats", { auth: false })).status).toBe(401);
    expect((await callJson("/v1/stats/overview", { auth: false })).status).toBe(401);
  });
});

describe("GET /v1/stats/overview gives totals, ROI, a daily series and each flow", () => {
  it("sums every flow, prorates MONTHLY_COST over the range and computes ROI", async () => {
    await seedWelcome();
    await insertFlow("cart", { id: "cart", name: "Abandoned cart", steps: [] }, "paused");
    const { status, body } = await callJson(`/v1/stats/overview?${range}`);
    expect(status).toBe(200);
    expect(body.totals).toMatchObject({ sent: 4, opened: 2, clicked: 1, converted: 1, revenue: 80 });
    // MONTHLY_COST = 100 in the test config: 7 days cost 100 × 7 / 30.4375.
    expect(body.cost).toBeCloseTo(23, 0);
    expect(body.roi).toBeCloseTo((80 - body.cost) / body.cost, 3);
    expect(body.daily.map((d: any) => d.sent)).toEqual([0, 2, 0, 2, 0, 0, 0]);
    expect(body.flows.map((f: any) => [f.id, f.status, f.sent, f.revenue])).toEqual([
      ["cart", "paused", 0, 0],
      ["welcome", "active", 4, 80],
    ]);
  });

  it("defaults to the last 30 days", async () => {
    const { body } = await callJson("/v1/stats/overview");
    expect(body.daily).toHaveLength(30);
    expect(body.range.to).toBe(new Date().toISOString().slice(0, 10));
  });
});

describe("the stats routes are in the OpenAPI document", () => {
  it("lists both paths", async () => {
    const { body } = await callJson("/openapi.json", { auth: false });
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(["/v1/flows/{id}/stats", "/v1/stats/overview"]));
  });
});

describe("each step says where it leads, for drawing the flow", () => {
  it("branches lead then/else (falling through to the next step), splits by weight, exits nowhere", async () => {
    await insertFlow("shapes", {
      id: "shapes",
      name: "Shapes",
      steps: [
        { id: "check", type: "branch", if: { tag: "vip" }, then: "vip" },
        {
          id: "ab",
          type: "split",
          paths: [
            { weight: 3, next: "vip" },
            { weight: 1, next: "done" },
          ],
        },
        { id: "vip", type: "email", template: "vip", next: "done" },
        { id: "done", type: "exit" },
      ],
    });
    const { body } = await callJson("/v1/flows/shapes/stats");
    expect(Object.fromEntries(body.steps.map((s: any) => [s.id, s.next]))).toEqual({
      check: [
        { step: "vip", label: "then" },
        { step: "ab", label: "else" },
      ],
      ab: [
        { step: "vip", label: "75%" },
        { step: "done", label: "25%" },
      ],
      vip: [{ step: "done", label: null }],
      done: [],
    });
    expect(body.steps.map((s: any) => s.summary)).toEqual(['if {"tag":"vip"}', "2 paths", null, null]);
  });
});

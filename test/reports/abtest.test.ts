import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/index";
import { compareVariants, decideWinners, loadWinners, twoProportionPValue } from "../../src/reports/abtest";
import { zeroCounters } from "../../src/reports/metrics";
import { DAY, db, insertContact, insertFlow, insertMessage } from "./seed";

describe("the two-proportion z-test gives the textbook p-values", () => {
  it.each([
    [100, 1000, 130, 1000, 0.035488],
    [30, 200, 50, 200, 0.012419],
    [120, 1000, 100, 1000, 0.152918],
    [200, 1000, 300, 1000, 2.4176e-7],
    [50, 500, 50, 500, 1],
  ])("%i/%i vs %i/%i → p = %f", (x1, n1, x2, n2, expected) => {
    const p = twoProportionPValue(x1, n1, x2, n2);
    expect(Math.abs(p - expected)).toBeLessThan(Math.max(2e-6, expected * 1e-4));
  });

  it("z = 1.96 is p = 0.05 and z = 2.576 is p = 0.01", () => {
    // 2 × 2 groups whose difference has exactly that z: checked through the same pooled formula.
    const pFor = (z: number) => {
      // p1 = 0.5 + d, p2 = 0.5 − d with n = 10_000 each: pooled 0.5, se = sqrt(0.25 · 2/n).
      const n = 10_000;
      const d = (z * Math.sqrt(0.25 * (2 / n))) / 2;
      return twoProportionPValue((0.5 + d) * n, n, (0.5 - d) * n, n);
    };
    expect(pFor(1.959964)).toBeCloseTo(0.05, 6);
    expect(pFor(2.575829)).toBeCloseTo(0.01, 6);
  });

  it("empty groups or all-or-nothing results give p = 1", () => {
    expect(twoProportionPValue(0, 0, 5, 10)).toBe(1);
    expect(twoProportionPValue(0, 100, 0, 100)).toBe(1);
    expect(twoProportionPValue(100, 100, 100, 100)).toBe(1);
  });
});

describe("variants are compared leader against runner-up", () => {
  it("names the leader and the p-value against the second best", () => {
    const c = (sent: number, clicked: number) => ({ ...zeroCounters(), sent, clicked });
    const result = compareVariants("click_rate", [
      { template: "a", counters: c(1000, 100) },
      { template: "b", counters: c(1000, 130) },
      { template: "c", counters: c(1000, 20) },
    ]);
    expect(result.leader).toBe("b");
    expect(result.p_value).toBeCloseTo(0.035488, 5);
    expect(result.significant).toBe(true);
    expect(result.variants.map((v) => v.rate)).toEqual([0.1, 0.13, 0.02]);
  });
  it("a tie has no leader", () => {
    const c = { ...zeroCounters(), sent: 10, opened: 5 };
    expect(
      compareVariants("open_rate", [
        { template: "a", counters: c },
        { template: "b", counters: c },
      ]).leader,
    ).toBeNull();
  });
});

const T0 = Date.UTC(2026, 10, 1, 9, 0, 0);

/** An active flow whose step `value` tests two templates on click rate, decided 3 days after its first send. */
async function abFlow(opts: { requireSignificance?: boolean; status?: "active" | "paused" } = {}) {
  await insertFlow(
    "welcome",
    {
      id: "welcome",
      name: "Welcome",
      steps: [
        { id: "hello", type: "email", template: "welcome-1" },
        {
          id: "value",
          type: "email",
          variants: [
            { template: "welcome-2a", weight: 50 },
            { template: "welcome-2b", weight: 50 },
          ],
          winner: { metric: "click_rate", after: "3d", ...(opts.requireSignificance === false ? { require_significance: false } : {}) },
        },
      ],
    },
    opts.status ?? "active",
  );
  await insertContact("c1");
  await insertMessage({ id: "first", contactId: "c1", flowId: "welcome", stepId: "value", variant: "welcome-2a", sentAt: T0 });
}

async function seedVariant(variant: string, sent: number, clicks: number) {
  await env.DB.prepare(
    "INSERT INTO stats_daily (flow_id, day, step_id, variant, sent, unique_clicks) VALUES ('welcome', '2026-11-01', 'value', ?, ?, ?)",
  )
    .bind(variant, sent, clicks)
    .run();
}

describe("a due, significant winner takes the step", () => {
  it("is not decided before `after` has passed since the step's first send", async () => {
    await abFlow();
    await seedVariant("welcome-2a", 1000, 100);
    await seedVariant("welcome-2b", 1000, 130);
    expect(await decideWinners(db(), T0 + 3 * DAY - 1)).toEqual([]);
    expect(await loadWinners(db(), "welcome")).toEqual({});
  });

  it("is recorded with its date and p-value once due and significant at 95%, and never re-decided", async () => {
    await abFlow();
    await seedVariant("welcome-2a", 1000, 100);
    await seedVariant("welcome-2b", 1000, 130);
    const decisions = await decideWinners(db(), T0 + 3 * DAY);
    expect(decisions).toEqual([{ flowId: "welcome", stepId: "value", templateId: "welcome-2b", pValue: expect.closeTo(0.035488, 5) }]);
    expect(await loadWinners(db(), "welcome")).toEqual({ value: "welcome-2b" });
    const row = await env.DB.prepare("SELECT decided_at FROM ab_winners").first<{ decided_at: number }>();
    expect(row?.decided_at).toBe(T0 + 3 * DAY);

    await env.DB.prepare("UPDATE stats_daily SET unique_clicks = 500 WHERE variant = 'welcome-2a'").run();
    expect(await decideWinners(db(), T0 + 4 * DAY)).toEqual([]);
    expect(await loadWinners(db(), "welcome")).toEqual({ value: "welcome-2b" });
  });

  it("is not decided while the difference is not significant", async () => {
    await abFlow();
    await seedVariant("welcome-2a", 1000, 120);
    await seedVariant("welcome-2b", 1000, 100);
    expect(await decideWinners(db(), T0 + 10 * DAY)).toEqual([]);
  });

  it("with require_significance: false, the leader wins when due", async () => {
    await abFlow({ requireSignificance: false });
    await seedVariant("welcome-2a", 1000, 120);
    await seedVariant("welcome-2b", 1000, 100);
    await decideWinners(db(), T0 + 10 * DAY);
    expect(await loadWinners(db(), "welcome")).toEqual({ value: "welcome-2a" });
  });

  it("paused flows are left alone", async () => {
    await abFlow({ status: "paused" });
    await seedVariant("welcome-2a", 1000, 100);
    await seedVariant("welcome-2b", 1000, 130);
    expect(await decideWinners(db(), T0 + 10 * DAY)).toEqual([]);
  });
});

describe("winners are decided by the hourly cron", () => {
  it("the '7 * * * *' run records a due winner", async () => {
    await abFlow();
    await seedVariant("welcome-2a", 1000, 100);
    await seedVariant("welcome-2b", 1000, 130);
    const controller = createScheduledController({ cron: "7 * * * *", scheduledTime: T0 + 5 * DAY });
    await worker.scheduled!(controller, env as never, createExecutionContext());
    expect(await loadWinners(db(), "welcome")).toEqual({ value: "welcome-2b" });
  });
});

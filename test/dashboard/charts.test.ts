import { describe, expect, it } from "vitest";
import { axisTicks } from "../../src/dashboard/charts";
import { formatCount } from "../../src/dashboard/format";

describe("chart axes step 1-2-5 from zero past the largest value", () => {
  const cases: [number, number[]][] = [
    [0, [0, 1]],
    [1, [0, 1]],
    [2.5, [0, 1, 2, 3]],
    [4, [0, 1, 2, 3, 4]],
    [7, [0, 2, 4, 6, 8]],
    [1234, [0, 500, 1000, 1500]],
    [1_000_000, [0, 200_000, 400_000, 600_000, 800_000, 1_000_000]],
  ];
  for (const [max, ticks] of cases) {
    it(`a count axis up to ${max} reads ${ticks.join(", ")}`, () => {
      expect(axisTicks(max)).toEqual(ticks);
    });
  }

  it("count labels are whole numbers and never repeat", () => {
    for (const max of [0, 0.3, 1, 2.5, 3, 4, 7, 9, 11, 99, 1234, 1_000_000]) {
      const labels = axisTicks(max).map(formatCount);
      expect(new Set(labels).size, `max ${max}`).toBe(labels.length);
      for (const t of axisTicks(max)) expect(Number.isInteger(t)).toBe(true);
      expect(axisTicks(max).at(-1)).toBeGreaterThanOrEqual(max);
    }
  });

  it("a money axis may step below one without drifting (0, 0.5, … 2.5)", () => {
    expect(axisTicks(2.5, false)).toEqual([0, 0.5, 1, 1.5, 2, 2.5]);
    expect(axisTicks(0.3, false)).toEqual([0, 0.1, 0.2, 0.3]);
  });
});

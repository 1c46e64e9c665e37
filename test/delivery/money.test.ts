import { describe, expect, it } from "vitest";
import { plainLiquid } from "../../src/delivery/liquid";
import { formatMoney } from "../../src/delivery/money";

describe("money is written with its currency and that currency's decimals", () => {
  it("EUR, USD and JPY", () => {
    expect(formatMoney(1234.5, "EUR")).toBe("€1,234.50");
    expect(formatMoney(42.5, "usd")).toBe("$42.50");
    expect(formatMoney(4250, "JPY")).toBe("¥4,250");
  });

  it("an unknown or missing currency keeps the amount readable", () => {
    expect(formatMoney(12.5, "")).toBe("12.50");
    expect(formatMoney(12.5, "euros")).toBe("12.50 euros");
  });

  it("the Liquid money filter formats numbers and numeric text and leaves other values alone", async () => {
    const render = (source: string, data: object) => plainLiquid.parseAndRender(source, data);
    expect(await render("{{ v | money: c }}", { v: 42.5, c: "EUR" })).toBe("€42.50");
    expect(await render("{{ v | money: c }}", { v: "1000", c: "JPY" })).toBe("¥1,000");
    expect(await render("{{ v | money: c }}", { v: "n/a", c: "EUR" })).toBe("n/a");
    expect(await render("{{ v | money }}", { v: 3 })).toBe("3.00");
  });
});

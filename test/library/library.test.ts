import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { findFlow } from "../../src/db/flows";

import { htmlLiquid, plainLiquid } from "../../src/delivery/liquid";
import { Flow } from "../../src/flows/schema";
import { validateFlowGraph } from "../../src/flows/validate";
import { LIBRARY } from "../../src/library/catalog";
import { callJson } from "../helpers/api";

const sample = {
  contact: { email: "ana@example.com", first_name: "Ana" },
  shop: { name: "Tea & Co", url: "https://shop.test" },
  unsubscribe_url: "https://nurture.test/u/x",
  dashboard_url: "https://nurture.test/admin",
};

describe("every library flow validates with its own templates", () => {
  for (const entry of LIBRARY) {
    it(`${entry.name} passes the schema and the graph checks`, () => {
      const parsed = Flow.safeParse(entry.flow);
      expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
      const problems = validateFlowGraph(entry.flow, new Set(entry.templates.map((t) => t.id)));
      expect(problems).toEqual([]);
      expect(entry.description.length).toBeGreaterThan(40);
    });
  }
});

describe("library templates render with sample data", () => {
  for (const entry of LIBRARY) {
    for (const t of entry.templates) {
      it(`${t.id} renders without errors or empty links`, async () => {
        const subject = await plainLiquid.parseAndRender(t.subject, sample);
        const html = await htmlLiquid.parseAndRender(t.html, sample);
        expect(subject.trim()).not.toBe("");
        const hrefs = [...html.matchAll(/href="([^"]*)"/g)].map((m) => m[1]);
        expect(hrefs.length).toBeGreaterThan(0);
        for (const href of hrefs) expect(href).toMatch(/^https?:\/\/\S+$/);
        expect(html).not.toContain("{{");
      });
    }
  }
});

describe("library templates show contact and event data as text", () => {
  const HOSTILE = '<a href="https://evil.example/win">win</a> & "co"';
  const hostile = {
    ...sample,
    contact: {
      ...sample.contact,
      first_name: HOSTILE,
      last_name: HOSTILE,
      attributes: { company: HOSTILE, plan: HOSTILE, birthday_code: HOSTILE },
    },
    event: {
      properties: { title: HOSTILE, name: HOSTILE, reason: HOSTILE, discount_code: HOSTILE, items: [{ name: HOSTILE, quantity: 2 }] },
    },
  };
  for (const entry of LIBRARY) {
    for (const t of entry.templates) {
      it(`${t.id} escapes data in its body and keeps it as written in its subject`, async () => {
        const html = await htmlLiquid.parseAndRender(t.html, hostile);
        expect(html).not.toContain('evil.example/win"');
        expect(html).not.toContain("&amp;amp;"); // escaped once, never twice
        const shown = html.split("&lt;a href=&#34;https://evil.example/win&#34;&gt;win&lt;/a&gt; &amp; &#34;co&#34;").length - 1;
        const subject = await plainLiquid.parseAndRender(t.subject, hostile);
        expect(subject).not.toMatch(/&(amp|lt|gt|#\d+);/);
        if (/first_name|last_name|event\.properties\.(title|name|reason|items)/.test(t.html + t.subject))
          expect(shown + subject.split(HOSTILE).length - 1, "the data is shown").toBeGreaterThan(0);
      });
    }
  }
});

describe("the cart and order emails show the total, with its currency, from value or properties.value", () => {
  const html = (id: string) => LIBRARY.flatMap((e) => e.templates).find((t) => t.id === id)!.html;
  const items = [{ name: "Green tea", price: 12.5, quantity: 2 }];
  for (const id of ["abandoned-cart-1", "post-purchase-1"]) {
    it(`${id} reads a top-level value as the README sends it`, async () => {
      const out = await htmlLiquid.parseAndRender(html(id), {
        ...sample,
        event: { name: "x", value: 25, properties: { currency: "EUR", items } },
      });
      expect(out).toContain("€25.00");
      expect(out).toContain("€12.50");
    });
    it(`${id} reads properties.value when there is no top-level value`, async () => {
      const out = await htmlLiquid.parseAndRender(html(id), {
        ...sample,
        event: { name: "x", value: null, properties: { value: 3000, currency: "JPY", items } },
      });
      expect(out).toContain("¥3,000");
    });
  }
});

describe("library API", () => {
  it("lists the library", async () => {
    const { status, body } = await callJson("/v1/library");
    expect(status).toBe(200);
    expect(body.flows.map((f: { name: string }) => f.name)).toContain("welcome-series");
  });

  it("answers 404 for an unknown name", async () => {
    const { status, body } = await callJson("/v1/library/nope/install", { method: "POST" });
    expect(status).toBe(404);
    expect(body.error.code).toBe("not_found");
  });

  it("installs a paused flow with its templates; re-install is harmless; edited templates conflict unless overwrite=true", async () => {
    const db = openDatabase(env.DB);
    const first = await callJson("/v1/library/welcome-series/install", { method: "POST" });
    expect(first.status).toBe(200);
    expect(first.body.flow.status).toBe("paused");
    expect((await findFlow(db, "welcome-series"))?.status).toBe("paused");
    const row = await env.DB.prepare("SELECT subject, library_hash FROM templates WHERE id = 'welcome-1'").first<{
      subject: string;
      library_hash: string;
    }>();
    expect(row?.library_hash).toMatch(/^[0-9a-f]{64}$/);

    const again = await callJson("/v1/library/welcome-series/install", { method: "POST" });
    expect(again.status).toBe(200);

    await env.DB.prepare("UPDATE templates SET subject = 'My own subject' WHERE id = 'welcome-2'").run();
    const conflict = await callJson("/v1/library/welcome-series/install", { method: "POST" });
    expect(conflict.status).toBe(409);
    expect(conflict.body.error.issues.map((i: { path: string[] }) => i.path[1])).toEqual(["welcome-2"]);
    const kept = await env.DB.prepare("SELECT subject FROM templates WHERE id = 'welcome-2'").first<{ subject: string }>();
    expect(kept?.subject).toBe("My own subject");

    const forced = await callJson("/v1/library/welcome-series/install?overwrite=true", { method: "POST" });
    expect(forced.status).toBe(200);
    const replaced = await env.DB.prepare("SELECT subject FROM templates WHERE id = 'welcome-2'").first<{ subject: string }>();
    expect(replaced?.subject).toBe("Our customers' favourites");
  });
});

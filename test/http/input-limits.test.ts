/** Inputs are validated once, at every entry: time zones through Intl, JSON bounded in depth and size; a refusal writes nothing. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { JSON_LIMITS } from "../../src/flows/schema";
import { MAX_STORED_ATTRIBUTES_BYTES } from "../../src/http/contacts";
import { callJson } from "../helpers/api";
import { countRows } from "../helpers/db";
import { contactId } from "../helpers/flows";

/** A value `levels` objects deep, the outermost included: nested(2) is {"a":{"leaf":true}}. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

async function storedEvents(name: string): Promise<number> {
  return Number(await env.DB.prepare("SELECT count(*) AS n FROM events WHERE name = ?").bind(name).first("n"));
}

function collect(message: Record<string, unknown>) {
  return callJson("/v1/collect", {
    method: "POST",
    auth: false,
    headers: { origin: "https://shop.test" },
    body: { site_key: "site_test", anonymous_id: "anon_limits_1", ...message },
  });
}

describe("time zones are checked with Intl at the edge", () => {
  it("a bad time zone through the API is refused with 422", async () => {
    const { status, body } = await callJson("/v1/contacts", {
      method: "PUT",
      body: { email: "tz-bad@example.com", timezone: "Bogus/Zone" },
    });
    expect(status).toBe(422);
    expect(body.error.code).toBe("validation_failed");
    expect(body.error.issues.map((i: { path: string[] }) => i.path.join("."))).toContain("timezone");
    expect(await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE email = 'tz-bad@example.com'").first("n")).toBe(0);
  });

  it("a bad time zone on an existing contact leaves the stored one unchanged", async () => {
    const id = await contactId("tz-keep@example.com", { timezone: "Europe/Paris" });
    const { status } = await callJson("/v1/contacts", { method: "PUT", body: { email: "tz-keep@example.com", timezone: "Mars/Olympus" } });
    expect(status).toBe(422);
    expect(await env.DB.prepare("SELECT timezone FROM contacts WHERE id = ?").bind(id).first("timezone")).toBe("Europe/Paris");
  });

  it("a bad time zone in a flow's settings is refused with 422", async () => {
    const { status } = await callJson("/v1/flows/tz-flow", {
      method: "PUT",
      body: { name: "Tz", trigger: { event: "x" }, settings: { timezone: "Bogus/Zone" }, steps: [{ id: "bye", type: "exit" }] },
    });
    expect(status).toBe(422);
    expect(await countRows("flows")).toBe(0);
  });

  it("a bad snippet time zone is dropped with a logged reason and the rest of the message is kept", async () => {
    const { status } = await collect({
      type: "identify",
      email: "snippet-tz@example.com",
      traits: { first_name: "Sam", timezone: "Bogus/Zone" },
    });
    expect(status).toBe(202);
    const row = await env.DB.prepare("SELECT first_name, timezone FROM contacts WHERE email = 'snippet-tz@example.com'").first();
    expect(row).toEqual({ first_name: "Sam", timezone: null });
  });
});

describe("free-form JSON is bounded in depth and size at every entry", () => {
  it("a property nested 33 deep is refused with 422 and nothing is stored", async () => {
    const { status, body } = await callJson("/v1/events", {
      method: "POST",
      body: [
        { email: "deep-ok@example.com", name: "deep_event", properties: { ok: 1 } },
        { email: "deep@example.com", name: "deep_event", properties: nested(JSON_LIMITS.maxDepth + 1) },
      ],
    });
    expect(status).toBe(422);
    expect(body.error.issues[0].path.slice(0, 2)).toEqual([1, "properties"]);
    expect(await storedEvents("deep_event")).toBe(0);
    expect(await countRows("contacts")).toBe(0);
  });

  it("a property nested 32 deep is accepted", async () => {
    const { status } = await callJson("/v1/events", {
      method: "POST",
      body: { email: "deep32@example.com", name: "deep32_event", properties: nested(JSON_LIMITS.maxDepth) },
    });
    expect(status).toBe(202);
    expect(await storedEvents("deep32_event")).toBe(1);
  });

  it("a trait nested 1,500 deep through the snippet is refused with 422 and nothing is stored", async () => {
    const { status } = await collect({ type: "identify", email: "deep-trait@example.com", traits: nested(1500) });
    expect(status).toBe(422);
    expect(await countRows("contacts")).toBe(0);
    expect(await countRows("events")).toBe(0);
  });

  it("snippet properties past the size bound are refused with 422", async () => {
    const { status } = await collect({
      type: "track",
      event: "big_event",
      properties: { blob: "x".repeat(JSON_LIMITS.maxStringLength + 1) },
    });
    expect(status).toBe(422);
    expect(await storedEvents("big_event")).toBe(0);
  });

  it("attributes over the size bound, with over-long keys or too deep are refused with 422 and the contact is not written", async () => {
    const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "y".repeat(1000)]));
    for (const attributes of [many, { ["k".repeat(JSON_LIMITS.maxKeyLength + 1)]: 1 }, { a: nested(JSON_LIMITS.maxDepth) }]) {
      const { status, body } = await callJson("/v1/contacts", { method: "PUT", body: { email: "attrs@example.com", attributes } });
      expect(status, JSON.stringify(body)).toBe(422);
      expect(body.error.issues[0].path[0]).toBe("attributes");
    }
    expect(await countRows("contacts")).toBe(0);
  });

  it("a flow whose update step sets an attribute nested too deep is refused with 422", async () => {
    const { status } = await callJson("/v1/flows/deep-set", {
      method: "PUT",
      body: { name: "Deep", trigger: { event: "x" }, steps: [{ id: "set", type: "update", set: { a: nested(JSON_LIMITS.maxDepth) } }] },
    });
    expect(status).toBe(422);
    expect(await countRows("flows")).toBe(0);
  });

  it("a segment whose condition compares with a value nested too deep is refused with 422", async () => {
    const { status } = await callJson("/v1/segments/deep", {
      method: "PUT",
      body: { name: "Deep", condition: { attr: "plan", op: "eq", value: nested(JSON_LIMITS.maxDepth + 1) } },
    });
    expect(status).toBe(422);
    expect(await countRows("segments")).toBe(0);
  });

  it("attributes that would outgrow a contact's bound when merged are refused with 422 and the stored ones kept", async () => {
    const chunk = (i: number) => ({
      [`part${i}`]: "z".repeat(JSON_LIMITS.maxStringLength),
      [`more${i}`]: "z".repeat(JSON_LIMITS.maxStringLength),
    });
    const fitting = Math.floor(MAX_STORED_ATTRIBUTES_BYTES / (2 * JSON_LIMITS.maxStringLength + 40));
    for (let i = 0; i < fitting; i++) {
      const { status } = await callJson("/v1/contacts", { method: "PUT", body: { email: "growing@example.com", attributes: chunk(i) } });
      expect(status).toBeLessThan(300);
    }
    const before = await env.DB.prepare("SELECT attributes FROM contacts WHERE email = 'growing@example.com'").first("attributes");

    const { status, body } = await callJson("/v1/contacts", {
      method: "PUT",
      body: { email: "growing@example.com", attributes: chunk(fitting) },
    });

    expect(status).toBe(422);
    expect(body.error.code).toBe("attributes_too_large");
    expect(await env.DB.prepare("SELECT attributes FROM contacts WHERE email = 'growing@example.com'").first("attributes")).toBe(before);
    // Removing attributes makes room again.
    const removal = Object.fromEntries(Array.from({ length: fitting }, (_, i) => [`part${i}`, null]));
    expect((await callJson("/v1/contacts", { method: "PUT", body: { email: "growing@example.com", attributes: removal } })).status).toBe(
      200,
    );
  });
});

import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { contactTimer } from "../../src/contact/dispatch";
import { callJson } from "../helpers/api";
import { countRows } from "../helpers/db";

describe("storage is isolated per test", () => {
  let contactId = "";
  it("writes a contact and an event", async () => {
    const { body } = await callJson("/v1/events", { method: "POST", body: { email: "iso@example.com", name: "x" } });
    contactId = body.events[0].contact_id;
    expect(await countRows("contacts")).toBe(1);
  });

  it("sees none of the previous test's rows, nor its Durable Object storage", async () => {
    expect(await countRows("contacts")).toBe(0);
    expect(await countRows("events")).toBe(0);
    expect(await contactTimer(env, contactId).receivedEvents()).toEqual([]);
  });
});

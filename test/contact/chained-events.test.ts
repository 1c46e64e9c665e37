import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { contactTimeline } from "../../src/db/admin-views";
import { openDatabase } from "../../src/db/client";
import type { Flow } from "../../src/flows/schema";
import { callJson } from "../helpers/api";
import { contactId, enrollmentsOf } from "../helpers/flows";

/** Saves and activates a flow through the API (these flows use no templates). */
async function activeFlow(flow: Flow & { id: string }): Promise<void> {
  expect((await callJson(`/v1/flows/${flow.id}`, { method: "PUT", body: flow })).status).toBeLessThan(300);
  expect((await callJson(`/v1/flows/${flow.id}/activate`, { method: "POST" })).status).toBe(200);
}

/** A flow that, whenever `watch` changes, flips `flip` on and off again: two changes of its own. */
function flipper(id: string, watch: string, flip: string, reentry: Flow["reentry"]): Flow & { id: string } {
  return {
    id,
    name: `When ${watch} changes, flip ${flip}`,
    trigger: { attribute_changed: watch },
    reentry,
    steps: [
      { id: "on", type: "update", set: { [flip]: "on" } },
      { id: "off", type: "update", set: { [flip]: "off" } },
    ],
  };
}

async function eventsNamed(id: string, name: string) {
  const { results } = await env.DB.prepare("SELECT properties FROM events WHERE contact_id = ? AND name = ?").bind(id, name).all<{
    properties: string;
  }>();
  return results.map((r) => JSON.parse(r.properties) as Record<string, unknown>);
}

describe("events past the chained-event cap are surfaced", () => {
  it("events past the chained-event cap are surfaced: two flows whose updates trigger each other stop, logged on the timeline", async () => {
    await activeFlow(flipper("ping-flow", "ping", "pong", "after_exit"));
    await activeFlow(flipper("pong-flow", "pong", "ping", "after_exit"));
    const id = await contactId("ping-pong@example.com");
    const res = await callJson("/v1/contacts", { method: "PUT", body: { email: "ping-pong@example.com", attributes: { ping: "go" } } });
    expect(res.status).toBe(200);

    const [stopped, ...more] = await eventsNamed(id, "chain_limit_reached");
    expect(more).toEqual([]);
    expect(stopped).toMatchObject({ limit: 50, dropped: expect.any(Number), names: ["attribute_changed"] });
    expect(stopped?.dropped).toBeGreaterThan(0);
    // The loop really ran until the cap, and then stopped.
    const runs = await enrollmentsOf(id);
    expect(runs.length).toBeGreaterThan(10);
    expect(runs.length).toBeLessThanOrEqual(51);
    expect(runs.every((r) => r.status === "completed")).toBe(true);
    // The contact's timeline shows it.
    const profile = await contactTimeline(openDatabase(env.DB), id);
    expect(profile?.timeline.filter((t) => t.kind === "event" && t.name === "chain_limit_reached")).toHaveLength(1);
  });

  it("a chain that ends by itself before the cap records no stop", async () => {
    await activeFlow(flipper("tick-flow", "tick", "tock", "never"));
    await activeFlow(flipper("tock-flow", "tock", "tick", "never"));
    const id = await contactId("tick-tock@example.com");
    await callJson("/v1/contacts", { method: "PUT", body: { email: "tick-tock@example.com", attributes: { tick: "go" } } });
    expect((await enrollmentsOf(id)).map((r) => r.flow_id).sort()).toEqual(["tick-flow", "tock-flow"]);
    expect(await eventsNamed(id, "chain_limit_reached")).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import type { Flow } from "../../src/flows/schema";
import { libraryEntry } from "../../src/library/catalog";
import { activeFlow, contactId, enrollmentsOf, fireAlarm, messagesOf, sleep, track } from "../helpers/flows";

/** The library flow with every wait and timeout shortened to one second, under a test id. */
function shortened(name: string): { id: string; steps: unknown[] } & Record<string, unknown> {
  const flow = libraryEntry(name)?.flow as Flow;
  const steps = flow.steps.map((s) => {
    if (s.type === "wait" && s.for) return { ...s, for: "1s" };
    if (s.type === "wait_for") return { ...s, timeout: "1s" };
    return s;
  });
  return { ...flow, id: `${name}-run`, steps };
}

describe("welcome series run", () => {
  it("sends email 1 at once, email 2 after the wait, the resend when email 2 is not opened, then email 3", async () => {
    await activeFlow(shortened("welcome-series"));
    const id = await contactId("lib-welcome@example.com");
    await track({ email: "lib-welcome@example.com", name: "subscribed" });
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["welcome-1"]);
    await sleep(1100);
    await fireAlarm(id);
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["welcome-1", "welcome-2"]);
    await sleep(1100);
    await fireAlarm(id);
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["welcome-1", "welcome-2", "welcome-2-resend", "welcome-3"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "welcome-series-run", status: "completed" }]);
  });
});

describe("failed payment run", () => {
  it("sends the transactional notice at once and exits on payment_succeeded before the reminder", async () => {
    await activeFlow(shortened("failed-payment"));
    const id = await contactId("lib-payment@example.com");
    await track({ email: "lib-payment@example.com", name: "payment_failed", properties: { update_url: "https://shop.test/billing" } });
    const [notice] = await messagesOf(id);
    expect(notice).toMatchObject({ template_id: "failed-payment-1", kind: "transactional" });
    await track({ email: "lib-payment@example.com", name: "payment_succeeded" });
    await sleep(1100);
    await fireAlarm(id);
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["failed-payment-1"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "failed-payment-run", status: "exited" }]);
  });
});

import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ContactEvent } from "../../src/db/contact-event";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { recordEngagements } from "../../src/tracking/engagement";
import { ADMIN_KEY } from "../helpers/api";
import { activeFlow, contactId, enrollmentsOf, messagesOf, timerOf, track } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";

/** A cart reminder that an order ends: it queues mail only if the order is processed before the checkout. */
const cartReminder = {
  id: "order-cart",
  name: "Cart reminder",
  trigger: { event: "checkout_started" },
  exit_when: [{ event: "order_placed" }],
  reentry: "after_exit",
  steps: [
    { id: "later", type: "wait", for: "1h" },
    { id: "remind", type: "email", template: "order-cart-1" },
  ],
};

describe("events of one request are processed in the order sent", () => {
  it("[checkout_started, order_placed] with the same ts in one batch never leaves a cart reminder", async () => {
    await activeFlow(cartReminder);
    const ts = Date.now();
    // Twenty shoppers in one request: with random event ids, an order by id would reverse some pairs.
    const emails = Array.from({ length: 20 }, (_, i) => `same-ts-${i}@example.com`);
    await track(
      emails.flatMap((email) => [
        { email, name: "checkout_started", ts },
        { email, name: "order_placed", value: 30, ts },
      ]),
    );
    for (const email of emails) {
      const id = await contactId(email);
      expect(await enrollmentsOf(id), email).toMatchObject([{ flow_id: "order-cart", status: "exited", exit_reason: "exit_event" }]);
      expect(await messagesOf(id), email).toEqual([]);
    }
  });

  it("sorts a request's events by time first: an order sent before an earlier checkout still ends the reminder", async () => {
    await activeFlow(cartReminder);
    const ts = Date.now();
    await track([
      { email: "later-order@example.com", name: "order_placed", value: 30, ts: ts + 1000 },
      { email: "later-order@example.com", name: "checkout_started", ts },
    ]);
    const id = await contactId("later-order@example.com");
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "exited", exit_reason: "exit_event" }]);
    expect(await messagesOf(id)).toEqual([]);
  });

  it("a checkout after the order in the same request starts the reminder", async () => {
    await activeFlow(cartReminder);
    const ts = Date.now();
    await track([
      { email: "order-then-cart@example.com", name: "order_placed", value: 30, ts },
      { email: "order-then-cart@example.com", name: "checkout_started", ts },
    ]);
    const id = await contactId("order-then-cart@example.com");
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "active", current_step: "later" }]);
    const stored = await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ?").bind(id).first("n");
    expect(stored).toBe(2);
  });
});

/**
 * The Worker's bindings with a ContactTimer namespace whose `receiveEvents` calls fail when `fails` says so
 * (as a reset object or a lost connection would), counting every call.
 */
function flakyTimers(fails: (contactId: string, call: number) => boolean) {
  const real = env.CONTACT_TIMER;
  const names = new Map<string, string>();
  let calls = 0;
  const namespace = {
    idFromName(name: string) {
      const id = real.idFromName(name);
      names.set(id.toString(), name);
      return id;
    },
    get(id: DurableObjectId) {
      const stub = real.get(id);
      const contact = names.get(id.toString()) ?? "";
      return {
        async receiveEvents(batch: ContactEvent[]) {
          calls++;
          if (fails(contact, calls)) throw new Error("Network connection lost.");
          return stub.receiveEvents(batch);
        },
      };
    },
  };
  return { env: { ...env, CONTACT_TIMER: namespace as unknown as Env["CONTACT_TIMER"] }, calls: () => calls };
}

/** POSTs events to the Worker under the given bindings, as a client would. */
async function postEvents(bindings: Env, events: unknown) {
  const ctx = createExecutionContext();
  const res = await worker.fetch(
    new Request("https://nurture.test/v1/events", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify(events),
    }),
    bindings,
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as { accepted: number; events: { id: string; duplicate: boolean }[] } };
}

/** Runs the every-minute cron under the given bindings. */
async function everyMinuteCron(bindings: Env = env): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "* * * * *", scheduledTime: Date.now() }), bindings, ctx);
  await waitOnExecutionContext(ctx);
}

async function undispatched(contact: string) {
  const { results } = await env.DB.prepare("SELECT event_id, attempts, next_at, last_error FROM undispatched_events WHERE contact_id = ?")
    .bind(contact)
    .all<{ event_id: string; attempts: number; next_at: number; last_error: string }>();
  return results;
}

const welcomeOnSignup = {
  id: "fault-welcome",
  name: "Welcome on signup",
  trigger: { event: "fault_signup" },
  steps: [{ id: "hello", type: "email", template: "fault-welcome-1" }],
};

describe("a ContactTimer call that fails is retried and each event is processed once", () => {
  it("a ContactTimer call that fails twice is retried within the request and the event is processed once", async () => {
    await activeFlow(welcomeOnSignup);
    const id = await contactId("fault-twice@example.com");
    const flaky = flakyTimers((_contact, call) => call <= 2);
    const res = await postEvents(flaky.env, { id: "fault-twice-1", contact_id: id, name: "fault_signup" });
    expect(res.status).toBe(202);
    expect(flaky.calls()).toBe(3);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "fault-welcome", status: "completed" }]);
    expect((await messagesOf(id)).map((m) => `${m.step_id}:${m.status}`)).toEqual(["hello:sent"]);
    expect(await undispatched(id)).toEqual([]);
  });

  it("a ContactTimer that keeps failing has its events kept, and the cron processes each once", async () => {
    await activeFlow(welcomeOnSignup);
    const id = await contactId("fault-down@example.com");
    const down = flakyTimers(() => true);
    const res = await postEvents(down.env, [
      { id: "fault-down-1", contact_id: id, name: "fault_signup" },
      { id: "fault-down-2", contact_id: id, name: "page_viewed" },
    ]);
    // Accepted: the events are stored and will be processed; the client has nothing to retry.
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(2);
    expect(down.calls()).toBe(3);
    expect(await enrollmentsOf(id)).toEqual([]);
    expect((await undispatched(id)).map((r) => [r.event_id, r.attempts, r.last_error]).sort()).toEqual([
      ["fault-down-1", 1, "Error: Network connection lost."],
      ["fault-down-2", 1, "Error: Network connection lost."],
    ]);

    // Still down at the next minute: kept, and tried again after a longer wait.
    const before = Date.now();
    await everyMinuteCron(down.env);
    const postponed = await undispatched(id);
    expect(postponed.map((r) => r.attempts)).toEqual([2, 2]);
    for (const r of postponed) expect(r.next_at).toBeGreaterThanOrEqual(before + 60_000);
    await env.DB.prepare("UPDATE undispatched_events SET next_at = 0 WHERE contact_id = ?").bind(id).run();
    await everyMinuteCron(down.env);
    for (const r of await undispatched(id)) {
      expect(r.attempts).toBe(3);
      expect(r.next_at).toBeGreaterThanOrEqual(before + 120_000);
    }

    // Back up: the cron hands the events over once, and the welcome email goes out once.
    await env.DB.prepare("UPDATE undispatched_events SET next_at = 0 WHERE contact_id = ?").bind(id).run();
    await everyMinuteCron();
    expect(await undispatched(id)).toEqual([]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "fault-welcome", status: "completed" }]);
    expect((await messagesOf(id)).map((m) => `${m.step_id}:${m.status}`)).toEqual(["hello:sent"]);
    expect((await timerOf(id).receivedEvents()).map((e) => e.id)).toEqual(["fault-down-1", "fault-down-2"]);

    // A later cron and the client's own retry change nothing.
    await everyMinuteCron();
    const retried = await postEvents(env, { id: "fault-down-1", contact_id: id, name: "fault_signup" });
    expect(retried.body.events).toEqual([{ id: "fault-down-1", contact_id: id, duplicate: true }]);
    expect(await enrollmentsOf(id)).toHaveLength(1);
    expect(await messagesOf(id)).toHaveLength(1);
  });

  it("one contact's failing ContactTimer does not hold back the others in the batch", async () => {
    await activeFlow(welcomeOnSignup);
    const broken = await contactId("fault-broken@example.com");
    const fine = await Promise.all(["fault-fine-1@example.com", "fault-fine-2@example.com"].map((e) => contactId(e)));
    const flaky = flakyTimers((contact) => contact === broken);
    const res = await postEvents(flaky.env, [
      { contact_id: broken, name: "fault_signup" },
      ...fine.map((id) => ({ contact_id: id, name: "fault_signup" })),
    ]);
    expect(res.status).toBe(202);
    for (const id of fine) expect((await messagesOf(id)).map((m) => m.status)).toEqual(["sent"]);
    expect(await messagesOf(broken)).toEqual([]);
    expect(await undispatched(broken)).toHaveLength(1);
    await everyMinuteCron();
    expect((await messagesOf(broken)).map((m) => m.status)).toEqual(["sent"]);
  });
  it("an open whose ContactTimer call fails is kept and still answers the flow's wait_for, once", async () => {
    await activeFlow({
      id: "fault-open",
      name: "Thanks for reading",
      trigger: { event: "fault_open_signup" },
      steps: [
        { id: "first", type: "email", template: "fault-open-1" },
        { id: "seen", type: "wait_for", event: "email_opened", of: "first", timeout: "1h", then: "thanks", else: "bye" },
        { id: "thanks", type: "email", template: "fault-open-2" },
        { id: "bye", type: "exit" },
      ],
    });
    const id = await contactId("fault-open@example.com");
    await track({ contact_id: id, name: "fault_open_signup" });
    const [first] = await messagesOf(id);
    expect(first?.status).toBe("sent");

    const down = flakyTimers(() => true);
    // The provider's report of the open, as the webhook records it.
    await recordEngagements(
      pipelineFor(down.env),
      [{ kind: "open", messageId: first?.id as string, userAgent: null, at: Date.now() }],
      Date.now(),
    );
    expect(down.calls()).toBe(3);
    expect((await messagesOf(id)).map((m) => m.step_id)).toEqual(["first"]);
    expect(await undispatched(id)).toHaveLength(1);

    await everyMinuteCron();
    expect((await messagesOf(id)).map((m) => `${m.step_id}:${m.status}`)).toEqual(["first:sent", "thanks:sent"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "exited", exit_reason: "exit_step" }]);
    expect(await undispatched(id)).toEqual([]);
    await everyMinuteCron();
    expect(await messagesOf(id)).toHaveLength(2);
  });
});

describe("sending what fell due and recording the sends runs in bounded rounds", () => {
  it("mail made due by each email_sent goes out in the same call for three rounds; the fourth waits for the cron", async () => {
    // Each email waits for its own email_sent, then mails again: a chain that would otherwise never end within the call.
    await activeFlow({
      id: "chain",
      name: "Chain",
      trigger: { event: "chain_started" },
      steps: [
        { id: "one", type: "email", template: "chain-1" },
        { id: "after-one", type: "wait_for", event: "email_sent", of: "one", timeout: "1d", then: "two" },
        { id: "two", type: "email", template: "chain-2" },
        { id: "after-two", type: "wait_for", event: "email_sent", of: "two", timeout: "1d", then: "three" },
        { id: "three", type: "email", template: "chain-3" },
        { id: "after-three", type: "wait_for", event: "email_sent", of: "three", timeout: "1d", then: "four" },
        { id: "four", type: "email", template: "chain-4" },
      ],
    });
    const id = await contactId("chain@example.com");
    const statuses = async () => Object.fromEntries((await messagesOf(id)).map((m) => [m.step_id, m.status]));

    await track({ contact_id: id, name: "chain_started" });

    expect(await statuses()).toEqual({ one: "sent", two: "sent", three: "sent", four: "queued" });
    await everyMinuteCron();
    expect(await statuses()).toEqual({ one: "sent", two: "sent", three: "sent", four: "sent" });
  });
});

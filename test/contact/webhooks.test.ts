import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WEBHOOK_MAX_ATTEMPTS, webhookRetryDelay } from "../../src/contact/webhooks";
import { openDatabase } from "../../src/db/client";
import { saveFlow } from "../../src/db/flows";
import type { Flow } from "../../src/flows/schema";
import { callJson } from "../helpers/api";
import { contactId, enrollmentsOf, timerOf, track } from "../helpers/flows";

afterEach(() => {
  vi.restoreAllMocks();
});

const HOOK_URL = "https://hooks.example.com/nurture";

interface ReceivedCall {
  url: string;
  id: string | null;
  body: Record<string, unknown>;
  redirect: string | undefined;
  at: number;
}

/** Replaces outbound fetch with a receiver that records every call (to any host) and answers as told. */
function fakeReceiver(answer: (index: number, init: RequestInit | undefined) => Response | Promise<Response>): ReceivedCall[] {
  const calls: ReceivedCall[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    calls.push({
      url: request.url,
      id: request.headers.get("nurture-webhook-id"),
      body: await request.json(),
      redirect: init?.redirect,
      at: Date.now(),
    });
    return answer(calls.length - 1, init);
  });
  return calls;
}

type PendingRow = { id: string; attempts: number; next_at: number; last_error: string | null };

/** The contact's webhooks still waiting for an answer, as the ContactTimer stores them. */
function pendingWebhooks(id: string): Promise<PendingRow[]> {
  return runInDurableObject(timerOf(id), (_instance, state) =>
    state.storage.sql.exec<PendingRow>("SELECT id, attempts, next_at, last_error FROM pending_webhooks").toArray(),
  );
}

/** Moves the contact's pending webhooks' next attempt to now, as if the backoff had passed, and fires the alarm. */
async function backoffPasses(id: string): Promise<void> {
  await runInDurableObject(timerOf(id), (_instance, state) => {
    state.storage.sql.exec("UPDATE pending_webhooks SET next_at = ?", Date.now() - 1);
  });
  expect(await runDurableObjectAlarm(timerOf(id))).toBe(true);
}

/** A flow that posts the lead to a CRM as soon as the event arrives. */
function crmFlow(id: string, url = HOOK_URL): Flow & { id: string } {
  return {
    id,
    name: "Send leads to the CRM",
    trigger: { event: `${id}_lead` },
    reentry: "after_exit",
    steps: [{ id: "crm", type: "webhook", url, body: { source: "nurture" } }],
  };
}

/** Saves and activates a flow through the API (these flows use no templates). */
async function activeFlow(flow: Flow & { id: string }): Promise<void> {
  expect((await callJson(`/v1/flows/${flow.id}`, { method: "PUT", body: flow })).status).toBe(201);
  expect((await callJson(`/v1/flows/${flow.id}/activate`, { method: "POST" })).status).toBe(200);
}

async function webhookFailures(id: string) {
  const { results } = await env.DB.prepare("SELECT properties FROM events WHERE contact_id = ? AND name = 'webhook_failed'")
    .bind(id)
    .all<{ properties: string }>();
  return results.map((r) => JSON.parse(r.properties) as Record<string, unknown>);
}

const PRIVATE_URLS = [
  "https://127.0.0.1/hook",
  "https://2130706433/hook",
  "https://0x7f.0.0.1/hook",
  "https://10.0.0.8/hook",
  "https://192.168.1.1/hook",
  "https://169.254.169.254/latest/meta-data",
  "https://[::ffff:127.0.0.1]/hook",
  "https://[fd00::1]/hook",
  "https://localhost/hook",
  "https://metadata.google.internal/hook",
  "http://hooks.example.com/nurture",
];

describe("a webhook to a private address is refused", () => {
  it("a webhook to a private address is refused at save and never called", async () => {
    const calls = fakeReceiver(() => new Response("ok"));
    for (const [i, url] of PRIVATE_URLS.entries()) {
      const res = await callJson(`/v1/flows/private-hook-${i}`, { method: "PUT", body: crmFlow(`private-hook-${i}`, url) });
      expect(res.status, url).toBe(422);
      expect(res.body.error.issues, url).toEqual([{ path: ["steps", 0, "url"], code: "webhook_url_refused", message: expect.any(String) }]);
      expect((await callJson(`/v1/flows/private-hook-${i}`)).status, url).toBe(404);
    }
    expect(calls).toEqual([]);
  });

  it("a flow saved before the rule existed does not call its private address, and the failure is on the timeline", async () => {
    const calls = fakeReceiver(() => new Response("ok"));
    await saveFlow(openDatabase(env.DB), "legacy-hook", crmFlow("legacy-hook", "https://169.254.169.254/latest/meta-data"), Date.now());
    expect((await callJson("/v1/flows/legacy-hook/activate", { method: "POST" })).status).toBe(200);
    const id = await contactId("legacy-hook@example.com");
    await track({ contact_id: id, name: "legacy-hook_lead" });
    await vi.waitFor(async () => expect(await webhookFailures(id)).toHaveLength(1));
    expect((await webhookFailures(id))[0]).toMatchObject({ flow_id: "legacy-hook", step_id: "crm", attempts: 1 });
    expect(await pendingWebhooks(id)).toEqual([]);
    expect(calls).toEqual([]);
  });

  it("accepts a public https URL", async () => {
    const res = await callJson("/v1/flows/public-hook", { method: "PUT", body: crmFlow("public-hook") });
    expect(res.status).toBe(201);
  });
});

describe("a webhook is called once per step, with its id", () => {
  it("posts the step's body with the contact and a stable nurture-webhook-id, and keeps nothing pending", async () => {
    const calls = fakeReceiver(() => new Response("ok"));
    await activeFlow(crmFlow("ok-hook"));
    const id = await contactId("ok-hook@example.com");
    await track({ contact_id: id, name: "ok-hook_lead" });
    await vi.waitFor(() => expect(calls).toHaveLength(1));
    expect(calls[0]).toMatchObject({
      url: HOOK_URL,
      id: expect.stringMatching(/^whk_/),
      body: { source: "nurture", flow_id: "ok-hook", step_id: "crm", contact_id: id, email: "ok-hook@example.com" },
      redirect: "manual",
    });
    await vi.waitFor(async () => expect(await pendingWebhooks(id)).toEqual([]));
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "completed" }]);
    expect(await webhookFailures(id)).toEqual([]);
  });
});

describe("a webhook's redirect is not followed", () => {
  it("a webhook's redirect is not followed: the 3xx counts as a failure and its target is never called", async () => {
    const calls = fakeReceiver(() => new Response(null, { status: 302, headers: { location: "http://127.0.0.1:8080/admin" } }));
    await activeFlow(crmFlow("redirect-hook"));
    const id = await contactId("redirect-hook@example.com");
    await track({ contact_id: id, name: "redirect-hook_lead" });
    await vi.waitFor(async () => expect((await pendingWebhooks(id))[0]?.last_error).toMatch(/redirect 302 not followed/));
    expect(calls.map((c) => [c.url, c.redirect])).toEqual([[HOOK_URL, "manual"]]);
    expect((await pendingWebhooks(id))[0]?.attempts).toBe(1);
  });
});

describe("a failed webhook is retried with backoff and the same id", () => {
  it("a failed webhook is retried with backoff and the same id, then given up on the timeline", async () => {
    const calls = fakeReceiver(() => new Response("down for maintenance", { status: 503 }));
    await activeFlow(crmFlow("retry-hook"));
    const id = await contactId("retry-hook@example.com");
    await track({ contact_id: id, name: "retry-hook_lead" });
    const delays: number[] = [];
    for (let attempt = 1; attempt < WEBHOOK_MAX_ATTEMPTS; attempt++) {
      await vi.waitFor(async () => expect((await pendingWebhooks(id))[0]?.last_error).toBe("HTTP 503: down for maintenance"));
      const [row] = await pendingWebhooks(id);
      expect(row?.attempts).toBe(attempt);
      expect(calls).toHaveLength(attempt);
      delays.push((row?.next_at ?? 0) - (calls.at(-1)?.at ?? 0));
      await backoffPasses(id);
    }
    expect(calls).toHaveLength(WEBHOOK_MAX_ATTEMPTS);
    // Each wait is three times the last, starting at 90 seconds (about an hour in all).
    delays.forEach((delay, i) => {
      expect(delay).toBeGreaterThanOrEqual(webhookRetryDelay(i + 1) - 1000);
      expect(delay).toBeLessThanOrEqual(webhookRetryDelay(i + 1) + 1000);
    });
    expect(delays[0]).toBeGreaterThanOrEqual(89_000);
    expect(new Set(calls.map((c) => c.id)).size).toBe(1);
    expect(new Set(calls.map((c) => JSON.stringify(c.body))).size).toBe(1);
    expect(await pendingWebhooks(id)).toEqual([]);
    expect(await webhookFailures(id)).toEqual([
      {
        flow_id: "retry-hook",
        step_id: "crm",
        webhook_id: calls[0]?.id,
        url: HOOK_URL,
        attempts: WEBHOOK_MAX_ATTEMPTS,
        error: "HTTP 503: down for maintenance",
      },
    ]);
    // Nothing is left to retry: the alarm calls no one again.
    await runDurableObjectAlarm(timerOf(id));
    expect(calls).toHaveLength(WEBHOOK_MAX_ATTEMPTS);
  });

  it("a webhook answered on its third attempt is not called again and leaves no failure", async () => {
    const calls = fakeReceiver((index) => (index < 2 ? new Response("busy", { status: 500 }) : new Response("ok")));
    await activeFlow(crmFlow("third-hook"));
    const id = await contactId("third-hook@example.com");
    await track({ contact_id: id, name: "third-hook_lead" });
    for (let attempt = 1; attempt <= 2; attempt++) {
      await vi.waitFor(async () => expect((await pendingWebhooks(id))[0]?.last_error).toMatch(/HTTP 500/));
      expect(calls).toHaveLength(attempt);
      await backoffPasses(id);
    }
    expect(calls).toHaveLength(3);
    expect(await pendingWebhooks(id)).toEqual([]);
    expect(await webhookFailures(id)).toEqual([]);
    expect(await runDurableObjectAlarm(timerOf(id))).toBe(false);
  });

  it("a stored webhook survives until its retry even when nothing else happens to the contact (the alarm is armed for it)", async () => {
    fakeReceiver(() => {
      throw new TypeError("Network connection lost");
    });
    await activeFlow(crmFlow("lost-hook"));
    const id = await contactId("lost-hook@example.com");
    await track({ contact_id: id, name: "lost-hook_lead" });
    await vi.waitFor(async () => expect((await pendingWebhooks(id))[0]?.last_error).toMatch(/Network connection lost/));
    const [row] = await pendingWebhooks(id);
    const alarm = await runInDurableObject(timerOf(id), (_instance, state) => state.storage.getAlarm());
    expect(alarm).toBe(row?.next_at);
  });
});

describe("a webhook in flight for a contact erased meanwhile", () => {
  it("gives up without writing anything under the erased contact's id", async () => {
    let erase = false;
    let id = "";
    const calls = fakeReceiver(async () => {
      if (erase) expect((await callJson(`/v1/contacts/${id}`, { method: "DELETE" })).status).toBe(204);
      return new Response("down", { status: 503 });
    });
    await activeFlow(crmFlow("erased-hook"));
    id = await contactId("erased-hook@example.com");
    await track({ contact_id: id, name: "erased-hook_lead" });
    await vi.waitFor(async () => expect((await pendingWebhooks(id))[0]?.last_error).toMatch(/HTTP 503/));
    // The next failure is the last one, and the contact is erased while it is in flight.
    await runInDurableObject(timerOf(id), (_instance, state) => {
      state.storage.sql.exec("UPDATE pending_webhooks SET attempts = ?", WEBHOOK_MAX_ATTEMPTS - 1);
    });
    erase = true;
    await backoffPasses(id);
    expect(calls).toHaveLength(2);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM events WHERE contact_id = ?").bind(id).first("n")).toBe(0);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM contacts WHERE id = ?").bind(id).first("n")).toBe(0);
    expect(await pendingWebhooks(id)).toEqual([]);
  });
});

describe("a webhook's answer is bounded", () => {
  it("an endless answer is not read beyond its first chunk", async () => {
    let pulls = 0;
    fakeReceiver(
      () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              pulls++;
              controller.enqueue(new TextEncoder().encode("x".repeat(64 * 1024)));
            },
          }),
          { status: 500 },
        ),
    );
    await activeFlow(crmFlow("endless-hook"));
    const id = await contactId("endless-hook@example.com");
    await track({ contact_id: id, name: "endless-hook_lead" });
    await vi.waitFor(async () => expect((await pendingWebhooks(id))[0]?.last_error).toMatch(/^HTTP 500: x+$/));
    expect((await pendingWebhooks(id))[0]?.last_error?.length).toBeLessThanOrEqual(600);
    expect(pulls).toBeLessThanOrEqual(3);
  });

  it("a webhook that never answers is abandoned after its timeout and retried", async () => {
    fakeReceiver(
      (_index, init) =>
        new Promise<Response>((_resolve, reject) => {
          init?.signal?.addEventListener("abort", () => reject(init.signal?.reason));
        }),
    );
    await activeFlow(crmFlow("silent-hook"));
    const id = await contactId("silent-hook@example.com");
    const start = Date.now();
    await track({ contact_id: id, name: "silent-hook_lead" });
    await vi.waitFor(async () => expect((await pendingWebhooks(id))[0]?.last_error).toMatch(/timeout|abort/i), {
      timeout: 15_000,
      interval: 250,
    });
    expect(Date.now() - start).toBeGreaterThanOrEqual(9_000);
    expect((await pendingWebhooks(id))[0]?.attempts).toBe(1);
  });
});

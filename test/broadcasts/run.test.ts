import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { erasedAddressKey } from "../../src/db/suppressions";
import { deliverDue, deliverNow } from "../../src/pipeline/pipeline";
import { recordEngagements } from "../../src/tracking/engagement";
import { callJson } from "../helpers/api";
import { activeFlow, contactId, enrollmentsOf } from "../helpers/flows";
import { pipelineFor } from "../helpers/pipeline";
import { acceptAll, fakeResend, providerEnv } from "../helpers/resend";
import { eventsNamed, eventually, visit } from "../helpers/tracking";
import { advance, broadcastMessages, retriesDueNow, seedContacts, sendBroadcast, template } from "./helpers";

afterEach(() => {
  vi.restoreAllMocks();
});

const fastProvider = () => providerEnv({ SEND_RATE_PER_SECOND: "1000" });

describe("a broadcast reaches every eligible contact exactly once", () => {
  it("2,000 contacts, 30% provider failures, overlapping runs and a restart mid-fan-out: one message each, none to the ineligible", async () => {
    const kinds = [
      ...Array.from({ length: 1880 }, (_, i) => ({ email: `ok${i}@example.com`, kind: "ok" })),
      ...Array.from({ length: 30 }, (_, i) => ({ email: `unsub${i}@example.com`, kind: "unsubscribed" })),
      ...Array.from({ length: 30 }, (_, i) => ({ email: `pending${i}@example.com`, kind: "pending" })),
      ...Array.from({ length: 20 }, (_, i) => ({ email: `bounced${i}@example.com`, kind: "suppressed" })),
      ...Array.from({ length: 10 }, (_, i) => ({ email: `erased${i}@example.com`, kind: "erased" })),
      ...Array.from({ length: 10 }, (_, i) => ({ email: `late${i}@example.com`, kind: "late" })),
      ...Array.from({ length: 20 }, (_, i) => ({ email: `queued-then-left${i}@example.com`, kind: "left" })),
    ];
    // Shuffled by a fixed rule, so that every kind is spread over the pages.
    kinds.sort(
      (a, b) =>
        ((a.email.length * 7919 + a.email.charCodeAt(a.email.length - 13)) % 101) -
        ((b.email.length * 7919 + b.email.charCodeAt(b.email.length - 13)) % 101),
    );
    expect(kinds).toHaveLength(2000);
    const ids = await seedContacts(
      kinds.map((k) => ({
        email: k.email,
        consent: k.kind === "unsubscribed" ? "unsubscribed" : k.kind === "pending" ? "pending" : "subscribed",
      })),
    );
    const now = Date.now();
    for (const k of kinds.filter((k) => k.kind === "suppressed"))
      await env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES (?, 'hard_bounce', ?)").bind(k.email, now).run();
    for (const k of kinds.filter((k) => k.kind === "erased"))
      await env.DB.prepare("INSERT INTO suppressions (email, reason, created_at) VALUES (?, 'erased', ?)")
        .bind(await erasedAddressKey(env.SIGNING_SECRET as string, k.email), now)
        .run();
    await template("sale");
    const sendAt = Date.now() + 60_000;
    const sent = await sendBroadcast("sale", {
      name: "Sale",
      template: "sale",
      audience: { all: true },
      send_at: new Date(sendAt).toISOString(),
    });
    expect(sent.broadcast.status).toBe("scheduled");

    // Unsubscribed after scheduling, before the audience is fixed.
    const late = kinds.flatMap((k, i) => (k.kind === "late" ? [ids[i]!] : []));
    await env.DB.prepare("UPDATE contacts SET consent = 'unsubscribed' WHERE id IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(late))
      .run();

    expect(await advance(sendAt - 1000)).toMatchObject({ pagesQueued: 0 });
    // A run that dies after one page, then two overlapping runs, then the rest.
    expect(await advance(sendAt, 1)).toMatchObject({ started: [], pagesQueued: 1 });
    await Promise.all([advance(sendAt, 2), advance(sendAt, 2)]);
    for (let i = 0; i < 10 && (await broadcastRow("sale")).fanned_out_at === null; i++) await advance(sendAt, 1);
    expect((await broadcastRow("sale")).fanned_out_at).not.toBeNull();

    // Unsubscribed after being queued: the sender's gate stops them.
    const left = kinds.flatMap((k, i) => (k.kind === "left" ? [ids[i]!] : []));
    await env.DB.prepare("UPDATE contacts SET consent = 'unsubscribed' WHERE id IN (SELECT value FROM json_each(?))")
      .bind(JSON.stringify(left))
      .run();

    const requests = fakeResend((request, index) =>
      index % 10 === 0
        ? new Response("busy", { status: 500 })
        : index % 10 === 3
          ? "lost"
          : index % 10 === 6
            ? new Response("slow", { status: 503 })
            : acceptAll(request, index),
    );
    for (let round = 0; round < 12; round++) {
      await Promise.all([
        deliverDue(pipelineFor(fastProvider()), { budgetMs: 20_000 }),
        deliverDue(pipelineFor(fastProvider()), { budgetMs: 20_000 }),
      ]);
      await retriesDueNow();
      await advance(Date.now());
    }
    expect(requests.length).toBeGreaterThan(20);

    const eligible = new Set(kinds.filter((k) => k.kind === "ok").map((k) => k.email));
    const delivered = requests.accepted.flatMap((e) => e.to);
    expect(delivered).toHaveLength(eligible.size);
    expect(new Set(delivered)).toEqual(eligible);

    const rows = await broadcastMessages("sale");
    expect(new Set(rows.map((r) => r.contact_id)).size).toBe(rows.length);
    const withStatus = (status: string) => rows.filter((r) => r.status === status);
    expect(withStatus("sent")).toHaveLength(1880);
    expect(withStatus("suppressed")).toHaveLength(20);
    expect(withStatus("suppressed").every((r) => r.to_email.startsWith("queued-then-left"))).toBe(true);
    expect(rows).toHaveLength(1900);
    expect((await broadcastRow("sale")).status).toBe("sent");
  }, 120_000);
});

async function broadcastRow(id: string) {
  return (await env.DB.prepare("SELECT * FROM broadcasts WHERE id = ?").bind(id).first<Record<string, any>>())!;
}

describe("local_time sends at that time in each contact's zone", () => {
  it("contacts in three zones are due at 09:00 local, across Europe's DST change, within 24 h of send_at", async () => {
    await template("local");
    const [ny, berlin, tokyo, none] = await seedContacts(
      [
        { email: "ny@example.com", timezone: "America/New_York" },
        { email: "berlin@example.com", timezone: "Europe/Berlin" },
        { email: "tokyo@example.com", timezone: "Asia/Tokyo" },
        { email: "nozone@example.com" },
      ],
      "c_lt",
    );
    // Europe moves to summer time at 01:00 UTC on 28 March 2027; New York already has (14 March).
    const sendAt = Date.parse("2027-03-27T12:00:00Z");
    await sendBroadcast("local", {
      name: "Local",
      template: "local",
      audience: { all: true },
      send_at: new Date(sendAt).toISOString(),
      local_time: "09:00",
    });
    await advance(sendAt);
    const due = Object.fromEntries((await broadcastMessages("local")).map((m) => [m.contact_id, new Date(m.due_at).toISOString()]));
    expect(due).toEqual({
      [ny!]: "2027-03-27T13:00:00.000Z",
      [berlin!]: "2027-03-28T07:00:00.000Z",
      [tokyo!]: "2027-03-28T00:00:00.000Z",
      [none!]: "2027-03-28T09:00:00.000Z",
    });
  });
});

describe("an A/B test sends the variants to the sample and the winner to the rest", () => {
  it("a 20% sample split between two subjects, a forced winner, the remainder all get it, the stats show both", async () => {
    await template("ab", "Default subject");
    const ids = await seedContacts(
      Array.from({ length: 50 }, (_, i) => ({ email: `ab${i}@example.com` })),
      "c_ab",
    );
    await sendBroadcast("ab", {
      name: "AB",
      template: "ab",
      audience: { all: true },
      ab_test: { variants: [{ subject: "Spring is here" }, { subject: "20% off" }], sample_percent: 20, metric: "click_rate", wait: "1s" },
    });
    const requests = fakeResend();
    await advance();
    const queued = await broadcastMessages("ab");
    expect(queued).toHaveLength(50);
    const sample = queued.filter((m) => m.variant !== null);
    expect(sample.filter((m) => m.variant === "a")).toHaveLength(5);
    expect(sample.filter((m) => m.variant === "b")).toHaveLength(5);
    await deliverDue(pipelineFor(fastProvider()));
    expect(requests.accepted.map((e) => e.subject).sort()).toEqual([...Array(5).fill("20% off"), ...Array(5).fill("Spring is here")]);

    // Two of variant b's readers click (as Resend reports it): b leads, but not significantly on five sends each.
    const clicked = sample.filter((m) => m.variant === "b").slice(0, 2);
    await recordEngagements(
      pipelineFor(env),
      clicked.map((m) => ({ kind: "click", messageId: m.id, index: 0, url: "https://shop.test/sale", request: null, at: Date.now() })),
      Date.now(),
    );
    expect(await advance()).toMatchObject({ decided: [] });
    // The wait passes: the sample went out five seconds ago.
    await env.DB.prepare("UPDATE messages SET sent_at = sent_at - 5000 WHERE broadcast_id = 'ab'").run();
    const decided = await advance();
    expect(decided).toMatchObject({ decided: ["ab"], released: 40 });
    await deliverDue(pipelineFor(fastProvider()));
    const remainder = requests.accepted.slice(10);
    expect(remainder).toHaveLength(40);
    expect(remainder.every((e) => e.subject === "20% off")).toBe(true);
    expect(new Set(requests.accepted.flatMap((e) => e.to)).size).toBe(50);
    await advance();

    const stats = await callJson("/v1/broadcasts/ab/stats");
    expect(stats.status).toBe(200);
    expect(stats.body.broadcast.status).toBe("sent");
    expect(stats.body.totals).toMatchObject({ sent: 50, clicked: 2 });
    expect(stats.body.variants.map((v: any) => [v.variant, v.subject, v.sent, v.clicked])).toEqual([
      ["a", "Spring is here", 5, 0],
      ["b", "20% off", 5, 2],
    ]);
    expect(stats.body.ab).toMatchObject({ metric: "click_rate", sample_percent: 20, leader: "b", significant: false });
    expect(stats.body.ab.winner).toMatchObject({ variant: "b", reason: "higher_rate_not_significant" });
    expect(stats.body.outcomes).toMatchObject({ total: 50, sent: 50, held: 0 });
    expect(ids).toHaveLength(50);
  });
});

describe("cancelling stops every message not yet handed to the provider", () => {
  it("a cancel mid-send cancels the unsent messages and keeps the sent ones sent", async () => {
    await template("stop");
    await seedContacts(
      Array.from({ length: 300 }, (_, i) => ({ email: `stop${i}@example.com` })),
      "c_st",
    );
    await sendBroadcast("stop", { name: "Stop", template: "stop", audience: { all: true } });
    await advance();
    const requests = fakeResend();
    const first = (await broadcastMessages("stop")).slice(0, 100).map((m) => m.id as string);
    await deliverNow(pipelineFor(fastProvider()), first);
    const cancel = await callJson("/v1/broadcasts/stop/cancel", { method: "POST" });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ broadcast: { status: "cancelled" }, cancelled: 200 });
    await deliverDue(pipelineFor(fastProvider()));
    await advance();
    expect(requests.accepted).toHaveLength(100);
    const rows = await broadcastMessages("stop");
    expect(rows.filter((m) => m.status === "sent")).toHaveLength(100);
    expect(rows.filter((m) => m.status === "cancelled")).toHaveLength(200);
    expect((await callJson("/v1/broadcasts/stop/cancel", { method: "POST" })).status).toBe(409);
  });
});

describe("a broadcast's clicks are events flows react to", () => {
  it("a click in a broadcast starts a flow triggered on email_clicked with that broadcast_id", async () => {
    await template("launch");
    await activeFlow({
      id: "launch-follow-up",
      name: "Launch follow-up",
      trigger: { event: "email_clicked", where: { prop: "broadcast_id", op: "eq", value: "launch" } },
      steps: [{ id: "thanks", type: "email", template: "launch-thanks" }],
    });
    const contact = await contactId("clicker@example.com", { consent: "subscribed" });
    await sendBroadcast("launch", { name: "Launch", template: "launch", audience: { all: true } });
    await advance();
    fakeResend();
    await deliverDue(pipelineFor(fastProvider()));
    const [message] = await broadcastMessages("launch");
    expect(message).toMatchObject({ contact_id: contact, status: "sent" });
    await env.DB.prepare("UPDATE messages SET sent_at = ? WHERE id = ?")
      .bind(Date.now() - 3_600_000, message!.id)
      .run();
    const click = /href="https:\/\/nurture\.test\/c\/([^"]+)"/.exec(message!.html)![1]!;
    expect((await visit(`/c/${click}`)).status).toBe(302);
    const [event] = await eventually(
      () => eventsNamed(contact, "email_clicked"),
      (e) => e.length === 1,
    );
    expect(JSON.parse(event!.properties)).toMatchObject({ broadcast_id: "launch" });
    const enrolled = await eventually(
      () => enrollmentsOf(contact),
      (e) => e.some((x) => x.flow_id === "launch-follow-up"),
    );
    expect(enrolled.find((x) => x.flow_id === "launch-follow-up")).toBeDefined();
  });
});

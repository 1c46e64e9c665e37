import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { erasedAddressKey } from "../../src/db/suppressions";
import { deliverDueMessages } from "../../src/delivery/sender";
import { acceptAll, fakeResend, providerEnv } from "../helpers/resend";
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
      await Promise.all([deliverDueMessages(fastProvider(), 20_000), deliverDueMessages(fastProvider(), 20_000)]);
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

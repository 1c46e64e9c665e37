import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { EventInsert } from "../../src/db/events";
import { bumpRollups } from "../../src/reports/rollups";
import { callJson } from "../helpers/api";
import { DAY, db, event, insertContact, insertMessage, random, rollupTable, store } from "./seed";

const T0 = Date.UTC(2026, 10, 1, 0, 0, 0);
const dayKey = (ts: number) => new Date(ts).toISOString().slice(0, 10);

type Row = {
  rowid: number;
  id: string;
  contact_id: string;
  name: string;
  properties: string;
  value: number | null;
  machine: number;
  message_id: string | null;
  ts: number;
};
type Msg = { id: string; flow_id: string | null; step_id: string | null; variant: string | null };

/** The rollups recounted straight from the raw events table, with the rules written the simple way. */
async function recount(): Promise<Record<string, Record<string, number>>> {
  const rows = (await env.DB.prepare("SELECT rowid, * FROM events").all<Row>()).results;
  const msgs = new Map(
    (await env.DB.prepare("SELECT id, flow_id, step_id, variant FROM messages").all<Msg>()).results.map((m) => [m.id, m]),
  );
  const out: Record<string, Record<string, number>> = {};
  const place = (e: Row) => {
    const p = JSON.parse(e.properties) as Record<string, string | undefined>;
    const m = e.message_id ? msgs.get(e.message_id) : undefined;
    return `${p.flow_id ?? m?.flow_id ?? ""}|${dayKey(e.ts)}|${p.step_id ?? m?.step_id ?? ""}|${p.variant ?? m?.variant ?? ""}`;
  };
  const add = (key: string, counter: string, n = 1) => {
    out[key] ??= {};
    out[key][counter] = Math.round(((out[key][counter] ?? 0) + n) * 100) / 100;
  };
  const names: Record<string, string> = {
    email_sent: "sent",
    email_delivered: "delivered",
    email_bounced: "bounces",
    email_complained: "complaints",
    unsubscribed: "unsubscribes",
  };
  const order = (a: Row, b: Row) => a.rowid - b.rowid;
  const firstOpen = new Map<string, Row>();
  const firstClick = new Map<string, Row>();
  for (const e of [...rows].sort(order)) {
    if (names[e.name]) add(place(e), names[e.name]!);
    if (e.machine && e.name === "email_opened") add(place(e), "machine_opens");
    if (e.machine && e.name === "email_clicked") add(place(e), "machine_clicks");
    if (!e.machine && e.message_id && (e.name === "email_opened" || e.name === "email_clicked") && !firstOpen.has(e.message_id)) {
      firstOpen.set(e.message_id, e);
    }
    if (!e.machine && e.message_id && e.name === "email_clicked" && !firstClick.has(e.message_id)) firstClick.set(e.message_id, e);
  }
  for (const e of firstOpen.values()) add(place(e), "unique_opens");
  for (const e of firstClick.values()) add(place(e), "unique_clicks");
  const last = (o: Row, name: string, window: number) =>
    rows
      .filter(
        (t) => t.contact_id === o.contact_id && t.name === name && !t.machine && t.message_id && t.ts <= o.ts && t.ts >= o.ts - window,
      )
      .sort((a, b) => b.ts - a.ts || (a.id < b.id ? 1 : -1))[0];
  for (const o of rows.filter((r) => r.name === "order_placed" && r.value !== null)) {
    const touch = last(o, "email_clicked", 5 * DAY) ?? last(o, "email_opened", DAY);
    if (!touch) continue;
    const key = place(touch).split("|");
    key[1] = dayKey(o.ts);
    add(key.join("|"), "conversions");
    add(key.join("|"), "revenue", o.value!);
  }
  return out;
}

describe("rollups equal a direct recount of the raw events", () => {
  for (const seed of [1, 2, 3]) {
    it(`random events in random batches, redelivered and out of order (seed ${seed})`, async () => {
      const r = random(seed);
      const contacts = ["c1", "c2", "c3", "c4"];
      for (const c of contacts) await insertContact(c);
      const placements = [
        { flowId: "welcome", stepId: "hello", variant: null },
        { flowId: "welcome", stepId: "value", variant: "welcome-2a" },
        { flowId: "welcome", stepId: "value", variant: "welcome-2b" },
        { flowId: "cart", stepId: "remind", variant: null },
        { flowId: null, stepId: null, variant: null },
      ];
      const messages: { id: string; contactId: string; flowId: string | null; stepId: string | null; variant: string | null }[] = [];
      for (let i = 0; i < 24; i++) {
        const m = { id: `msg_${i}`, contactId: r.pick(contacts), ...r.pick(placements) };
        messages.push(m);
        await insertMessage(m);
      }
      const names = [
        "email_sent",
        "email_delivered",
        "email_opened",
        "email_opened",
        "email_clicked",
        "email_bounced",
        "email_complained",
        "unsubscribed",
      ];
      const emailEvents: EventInsert[] = [];
      for (let i = 0; i < 220; i++) {
        const m = r.pick(messages);
        const name = r.pick(names);
        // Half of the events name their flow in properties (as delivery and tracking do), half rely on the message row.
        const properties = r.next() < 0.5 && m.flowId ? { flow_id: m.flowId, step_id: m.stepId, variant: m.variant } : {};
        emailEvents.push(
          event(name, m.contactId, T0 + r.int(4 * DAY), {
            messageId: m.id,
            machine: (name === "email_opened" || name === "email_clicked") && r.next() < 0.25,
            properties,
          }),
        );
      }
      const orders = Array.from({ length: 30 }, () =>
        event("order_placed", r.pick(contacts), T0 + r.int(5 * DAY), { value: r.next() < 0.9 ? 5 + r.int(200) : undefined }),
      );
      // Random batches, each recorded at a later `now`; some events are delivered twice.
      let pending = [...emailEvents].sort(() => r.next() - 0.5);
      let now = T0 + 10 * DAY;
      while (pending.length) {
        const size = 1 + r.int(40);
        const batch = pending.slice(0, size);
        pending = pending.slice(size);
        const redelivered = emailEvents.filter(() => r.next() < 0.03);
        await store([...batch, ...redelivered], now);
        now += r.int(3) * 1000; // equal `now`s happen: storage order decides
      }
      await store(orders, now + 1000);
      expect(await rollupTable()).toEqual(await recount());
    });
  }
});

describe("unique opens and clicks are counted once per message", () => {
  it("a human click counts as the message's open; later opens and machine opens do not add to unique opens", async () => {
    await insertContact("c1");
    await insertMessage({ id: "m1", contactId: "c1", flowId: "f", stepId: "s", variant: null });
    await store([event("email_opened", "c1", T0, { messageId: "m1", machine: true })], T0);
    await store([event("email_clicked", "c1", T0 + 1, { messageId: "m1" })], T0 + 1);
    await store(
      [event("email_opened", "c1", T0 + 2, { messageId: "m1" }), event("email_clicked", "c1", T0 + 3, { messageId: "m1" })],
      T0 + 2,
    );
    const row = (await rollupTable())[`f|${dayKey(T0)}|s|`];
    expect(row).toEqual({ unique_opens: 1, unique_clicks: 1, machine_opens: 1 });
  });
});

describe("the flow engine's counters", () => {
  it("bumpRollups adds entered and goal completions per day, flow, step and variant", async () => {
    await bumpRollups(db(), [
      { ts: T0, flowId: "welcome", stepId: null, variant: null, counter: "entered" },
      { ts: T0 + 5, flowId: "welcome", stepId: null, variant: null, counter: "entered", amount: 2 },
      { ts: T0 + DAY, flowId: "welcome", stepId: null, variant: null, counter: "converted" },
    ]);
    await bumpRollups(db(), [{ ts: T0 + 7, flowId: "welcome", stepId: null, variant: null, counter: "entered" }]);
    expect(await rollupTable()).toEqual({
      [`welcome|${dayKey(T0)}||`]: { entered: 4 },
      [`welcome|${dayKey(T0 + DAY)}||`]: { goals: 1 },
    });
  });
});

describe("events recorded through the API are rolled up once", () => {
  it("POST /v1/events with a repeated id adds to the rollups only the first time", async () => {
    const body = {
      id: "evt-sent-1",
      email: "ada@example.com",
      name: "email_sent",
      properties: { flow_id: "welcome", step_id: "hello", variant: null },
      ts: T0,
    };
    expect((await callJson("/v1/events", { method: "POST", body })).status).toBe(202);
    expect((await callJson("/v1/events", { method: "POST", body })).status).toBe(202);
    expect(await rollupTable()).toEqual({ [`welcome|${dayKey(T0)}|hello|`]: { sent: 1 } });
  });
});

import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/db/client";
import { awaitSendSlot, type GateClock, holdFromDispatch, SEND_MARGIN_MS, SLOT_HOLD_MS } from "../../src/delivery/send-gate";

const db = () => openDatabase(env.DB);

beforeEach(async () => {
  await env.DB.prepare("DELETE FROM send_gate").run();
});

/**
 * Virtual time shared by several senders that take their slots in the real D1: while any sender is running
 * (or waiting on D1) time stands still; once all of them sleep, it jumps to the earliest wake.
 */
class VirtualTime {
  private readonly sleepers: { at: number; order: number; wake: () => void }[] = [];
  private running = 0;
  private order = 0;

  constructor(public now: number) {}

  /** A sender's clock; each wake comes `lateness(ms)` after it was due, as a busy isolate's timers do. */
  clock(lateness: (ms: number) => number): GateClock {
    return {
      now: () => this.now,
      sleep: (ms) =>
        new Promise<void>((wake) => {
          this.running--;
          this.sleepers.push({ at: this.now + Math.max(0, ms) + lateness(ms), order: this.order++, wake });
        }),
    };
  }

  /** Runs the senders to their end. */
  async run(senders: (() => Promise<void>)[]): Promise<void> {
    const failures: unknown[] = [];
    this.running = senders.length;
    for (const sender of senders)
      sender()
        .catch((error) => failures.push(error))
        .finally(() => this.running--);
    while (this.running > 0 || this.sleepers.length > 0) {
      if (failures.length > 0) throw failures[0];
      if (this.running > 0) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        continue;
      }
      this.sleepers.sort((a, b) => a.at - b.at || a.order - b.order);
      const next = this.sleepers.shift()!;
      this.now = Math.max(this.now, next.at);
      this.running++;
      next.wake();
    }
    if (failures.length > 0) throw failures[0];
  }
}

/** A small seeded generator (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const RATE = 2;
const START = 1_700_000_000_000;

describe("the send gate holds the provider's rolling second and loses no slot", () => {
  it(`${RATE} requests/s: never more than ${RATE} in any rolling 1000 ms, under jittered starts and late wakes, and no slot given up`, async () => {
    for (const seed of [1, 2, 3]) {
      await env.DB.prepare("DELETE FROM send_gate").run();
      const next = random(seed);
      const time = new VirtualTime(START);
      const started: number[] = [];
      const arrived: number[] = [];
      // Three senders (overlapping cron runs) start up to 700 ms apart; a quarter of their wakes are 40–80 ms
      // late (past what the margin covers), the rest up to 5 ms; each request reaches the provider 0–10 ms after
      // its slot (the slot's D1 round trip and the fetch); sending and settling a batch takes 100–400 ms.
      const late = () => (next() < 0.25 ? 40 + next() * 40 : next() * 5);
      const senders = [0, 1, 2].map(() => async () => {
        const clock = time.clock(late);
        await clock.sleep(next() * 700);
        while (time.now < START + 20_000) {
          await awaitSendSlot(db(), RATE, clock);
          started.push(time.now);
          arrived.push(time.now + next() * 10);
          await clock.sleep(100 + next() * 300);
        }
      });
      await time.run(senders);

      arrived.sort((a, b) => a - b);
      // The provider's window, as the bench's fake and Resend count it: a request RATE places later is a full second later.
      for (let i = 0; i + RATE < arrived.length; i++) expect(arrived[i + RATE]! - arrived[i]!).toBeGreaterThanOrEqual(1000);
      // No slot lost: a request reuses the slot of the one RATE places before it as soon as the slot frees, late
      // only by its sender's own lateness (two wakes at most), never a whole slot later as a sender that gave
      // its slot up would. Some sender is always ready (each is busy 480 ms at most after a send).
      for (let i = 0; i + RATE < started.length; i++) expect(started[i + RATE]! - started[i]!).toBeLessThanOrEqual(SLOT_HOLD_MS + 2 * 80);
      expect(started.length).toBeGreaterThanOrEqual(RATE * Math.floor(19_300 / (SLOT_HOLD_MS + 40)));
    }
  }, 60_000);

  it("a sender that wakes 60 ms late sends in its slot, and the slot counts from when it really started", async () => {
    const time = new VirtualTime(START);
    const started: { sender: string; at: number }[] = [];
    const onTime = time.clock(() => 0);
    // Late on every real wait, as a busy isolate is; a zero timer comes at once.
    const late = time.clock((ms) => (ms >= 100 ? 60 : 0));
    await time.run([
      async () => {
        for (let i = 0; i < RATE; i++) {
          await awaitSendSlot(db(), RATE, onTime);
          started.push({ sender: "on time", at: time.now });
        }
      },
      async () => {
        await late.sleep(10);
        for (let i = 0; i < RATE + 1; i++) {
          await awaitSendSlot(db(), RATE, late);
          started.push({ sender: "late", at: time.now });
        }
      },
    ]);
    // Both slots go at once; the late sender wakes 60 ms after the first frees and still sends in it, takes the
    // second (free since), and its next request waits for a slot held from those real starts.
    expect(started).toEqual([
      { sender: "on time", at: START },
      { sender: "on time", at: START },
      { sender: "late", at: START + SLOT_HOLD_MS + 60 },
      { sender: "late", at: START + SLOT_HOLD_MS + 60 },
      { sender: "late", at: START + 2 * (SLOT_HOLD_MS + 60) },
    ]);
    expect(SLOT_HOLD_MS).toBe(1000 + SEND_MARGIN_MS);
  });

  it("a request that leaves 40 ms after its slot was taken holds the slot from when it left", async () => {
    const time = new VirtualTime(START);
    const started: number[] = [];
    const clock = time.clock(() => 0);
    await time.run([
      async () => {
        for (let i = 0; i < RATE + 1; i++) {
          const slot = await awaitSendSlot(db(), RATE, clock);
          // The first request is held up (a busy isolate) between taking its slot and leaving.
          if (i === 0) await clock.sleep(40);
          await (await holdFromDispatch(db(), slot, clock)).held;
          started.push(time.now);
        }
      },
    ]);
    expect(started).toEqual([START + 40, START + 40, START + 40 + SLOT_HOLD_MS]);
  });
});

/**
 * Drives the Worker's `queue` handler as Cloudflare Queues would, without the waits: batches of up to 100,
 * redelivery of what the consumer asked to retry (attempts counted), and a message whose retries run out moved
 * to the dead-letter queue's consumer. Plus a D1 binding whose writes fail on demand, for fault tests.
 */
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import { env } from "cloudflare:workers";
import type { Env } from "../../src/env";
import worker from "../../src/index";
import { TRACKING_DEAD_LETTER_QUEUE, TRACKING_QUEUE } from "../../src/tracking/consumer";

/** The tracking queue's `max_retries` (wrangler.toml). */
export const MAX_RETRIES = 12;

/** A message as the queue holds it between deliveries. */
export interface QueuedMessage {
  id: string;
  body: unknown;
  attempts: number;
  timestamp: Date;
}

/** Messages for the tracking queue, as first sent. */
export function queued(bodies: unknown[]): QueuedMessage[] {
  return bodies.map((body) => ({ id: crypto.randomUUID(), body, attempts: 1, timestamp: new Date() }));
}

/** What `getQueueResult` reports (its type is in workers-types' experimental set only). */
interface QueueResult {
  explicitAcks: string[];
  retryMessages: { msgId: string }[];
  retryBatch: { retry: boolean };
}

/** One delivery round's outcome: the messages acked, and those to deliver again with the delay asked for. */
export interface Delivered {
  acked: QueuedMessage[];
  retried: { message: QueuedMessage; delaySeconds: number | undefined }[];
}

/** Delivers messages to the queue handler in batches of 100, as Queues does; a batch whose handler throws is retried whole. */
export async function deliver(queue: string, messages: QueuedMessage[], bindings: Env = env): Promise<Delivered> {
  const delivered: Delivered = { acked: [], retried: [] };
  for (let i = 0; i < messages.length; i += 100) {
    const chunk = messages.slice(i, i + 100);
    const batch = createMessageBatch(queue, chunk);
    // The test runtime keeps no retry delays: note the ones the consumer asks for.
    const delays = new Map<string, number | undefined>();
    for (const message of batch.messages) {
      const retry = message.retry.bind(message);
      message.retry = (options) => {
        delays.set(message.id, options?.delaySeconds);
        retry(options);
      };
    }
    let batchDelay: number | undefined;
    const retryAll = batch.retryAll.bind(batch);
    batch.retryAll = (options) => {
      batchDelay = options?.delaySeconds;
      retryAll(options);
    };
    const ctx = createExecutionContext();
    let threw = false;
    try {
      await worker.queue(batch, bindings, ctx);
    } catch {
      threw = true;
    }
    const result = (await getQueueResult(batch, ctx)) as QueueResult;
    const acks = new Set(result.explicitAcks);
    const retries = new Set(result.retryMessages.map((r) => r.msgId));
    for (const message of chunk) {
      if (retries.has(message.id) || (!acks.has(message.id) && (threw || result.retryBatch.retry))) {
        delivered.retried.push({ message, delaySeconds: delays.get(message.id) ?? batchDelay });
      } else delivered.acked.push(message);
    }
  }
  return delivered;
}

/**
 * Runs messages through the tracking queue until each is acked or dead (its retries ran out, then the dead-letter
 * consumer got it), calling `beforeRound` before each round; returns each round's outcome at the tracking queue.
 */
export async function drainTracking(
  messages: QueuedMessage[],
  bindings: Env = env,
  beforeRound: (round: number) => void = () => {},
): Promise<Delivered[]> {
  const rounds: Delivered[] = [];
  let pending = messages;
  let dead: QueuedMessage[] = [];
  for (let round = 1; pending.length > 0 || dead.length > 0; round++) {
    if (round > 100) throw new Error("the tracking queue never drained");
    beforeRound(round);
    if (dead.length > 0) {
      const toDeadLetters = await deliver(TRACKING_DEAD_LETTER_QUEUE, dead, bindings);
      dead = toDeadLetters.retried.map(({ message }) => ({ ...message, attempts: message.attempts + 1 }));
    }
    if (pending.length === 0) continue;
    const delivered = await deliver(TRACKING_QUEUE, pending, bindings);
    rounds.push(delivered);
    pending = [];
    for (const { message } of delivered.retried) {
      // Queues moves a message to the dead-letter queue (same id, attempts from 1) once its retries are used up.
      if (message.attempts > MAX_RETRIES) dead.push({ ...message, attempts: 1 });
      else pending.push({ ...message, attempts: message.attempts + 1 });
    }
  }
  return rounds;
}

/**
 * A D1 binding over the real one whose writes (INSERT, UPDATE, DELETE, alone or in a batch) throw while `fails`
 * says so; `fails` sees the statement and its parameters. Reads always go through.
 */
export function flakyDatabase(fails: (sql: string, params: unknown[]) => boolean): D1Database {
  const real = env.DB;
  const isWrite = (sql: string) => /^\s*(insert|update|delete|replace)\b/i.test(sql);
  const check = (sql: string, params: unknown[]) => {
    if (isWrite(sql) && fails(sql, params)) throw new Error("D1_ERROR: injected write failure");
  };
  class Statement {
    constructor(
      readonly real: D1PreparedStatement,
      readonly sql: string,
      readonly params: unknown[],
    ) {}
    bind(...values: unknown[]) {
      return new Statement(this.real.bind(...values), this.sql, values);
    }
    run() {
      check(this.sql, this.params);
      return this.real.run();
    }
    all() {
      check(this.sql, this.params);
      return this.real.all();
    }
    first(column?: string) {
      check(this.sql, this.params);
      return column === undefined ? this.real.first() : this.real.first(column);
    }
    raw(options?: { columnNames?: boolean }) {
      check(this.sql, this.params);
      return this.real.raw(options as { columnNames: true });
    }
  }
  const database = {
    prepare: (sql: string) => new Statement(real.prepare(sql), sql, []),
    batch: (statements: Statement[]) => {
      for (const s of statements) check(s.sql, s.params);
      return real.batch(statements.map((s) => s.real));
    },
    exec: (sql: string) => {
      check(sql, []);
      return real.exec(sql);
    },
  };
  return database as unknown as D1Database;
}

/**
 * Meters what Cloudflare bills, around the real bindings, for the capacity
 * measurement: D1 queries and the rows each reads and writes (from D1's own
 * `meta`), Durable Object requests (every RPC call on a stub), and the rows a
 * ContactTimer's SQLite storage reads and writes (its cursors' own counters).
 * Measurement only: nothing in src/ knows about it.
 */
import type { Env } from "../../src/env";

/** Billed units counted so far. */
export interface Tally {
  d1Queries: number;
  d1RowsRead: number;
  d1RowsWritten: number;
  /** Milliseconds D1 spent executing the queries (its `meta.duration`): what one database's single writer spends. */
  d1Ms: number;
  doRequests: number;
  doRowsRead: number;
  doRowsWritten: number;
  /** When present, each statement's count and D1 milliseconds, keyed by the start of its SQL (for profiling). */
  bySql?: Record<string, { queries: number; ms: number }>;
}

/** An empty tally. */
export const newTally = (): Tally => ({
  d1Queries: 0,
  d1RowsRead: 0,
  d1RowsWritten: 0,
  d1Ms: 0,
  doRequests: 0,
  doRowsRead: 0,
  doRowsWritten: 0,
});

function count(tally: Tally, meta: D1Meta | undefined, sql?: string): void {
  tally.d1Queries += 1;
  tally.d1RowsRead += meta?.rows_read ?? 0;
  tally.d1RowsWritten += meta?.rows_written ?? 0;
  tally.d1Ms += meta?.duration ?? 0;
  if (tally.bySql && sql !== undefined) {
    const key = sql.replace(/\s+/g, " ").trim().slice(0, 90);
    const before = tally.bySql[key] ?? { queries: 0, ms: 0 };
    tally.bySql[key] = { queries: before.queries + 1, ms: before.ms + (meta?.duration ?? 0) };
  }
}

/** The SQL of each metered statement, so that a batch can profile the statements it unwraps. */
const sqlOf = new WeakMap<D1PreparedStatement, string>();

const READ_ONLY = /^\s*(select|with\b(?![\s\S]*\b(insert|update|delete)\b))/i;

function meteredStatement(statement: D1PreparedStatement, sql: string, tally: Tally): D1PreparedStatement {
  sqlOf.set(statement, sql);
  return {
    bind: (...values: unknown[]) => meteredStatement(statement.bind(...values), sql, tally),
    async run() {
      const result = await statement.run();
      count(tally, result.meta, sql);
      return result;
    },
    async all() {
      const result = await statement.all();
      count(tally, result.meta, sql);
      return result;
    },
    async first(column?: string) {
      const result = await statement.all<Record<string, unknown>>();
      count(tally, result.meta, sql);
      const row = result.results[0];
      if (!row) return null;
      return column === undefined ? row : row[column];
    },
    // raw() reports no meta: a read is run a second time through all() to read its meta; a write (RETURNING) is
    // run once through all() and turned into rows of values, as drizzle itself does with batch results.
    async raw(options?: { columnNames?: boolean }) {
      if (READ_ONLY.test(sql)) {
        const rows = await statement.raw(options as { columnNames: true });
        count(tally, (await statement.all()).meta, sql);
        return rows;
      }
      const result = await statement.all<Record<string, unknown>>();
      count(tally, result.meta, sql);
      const rows = result.results.map((row) => Object.values(row));
      return options?.columnNames ? [Object.keys(result.results[0] ?? {}), ...rows] : rows;
    },
    unwrap: () => statement,
  } as unknown as D1PreparedStatement;
}

/** D1 with every query counted into `tally`. */
export function meteredD1(d1: D1Database, tally: Tally): D1Database {
  const unwrap = (s: D1PreparedStatement) => (s as unknown as { unwrap?: () => D1PreparedStatement }).unwrap?.() ?? s;
  return {
    prepare: (sql: string) => meteredStatement(d1.prepare(sql), sql, tally),
    async batch(statements: D1PreparedStatement[]) {
      const unwrapped = statements.map(unwrap);
      const results = await d1.batch(unwrapped);
      for (const [i, result] of results.entries()) count(tally, result.meta, sqlOf.get(unwrapped[i]!));
      return results;
    },
    async exec(sql: string) {
      const result = await d1.exec(sql);
      tally.d1Queries += result.count;
      return result;
    },
    withSession: () => {
      throw new Error("sessions are not metered");
    },
    dump: () => d1.dump(),
  } as unknown as D1Database;
}

/** A Durable Object namespace whose stubs count each call as the billed request it is. */
function meteredNamespace<T extends Rpc.DurableObjectBranded>(
  namespace: DurableObjectNamespace<T>,
  tally: Tally,
): DurableObjectNamespace<T> {
  return new Proxy(namespace, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key !== "get" || typeof value !== "function") return typeof value === "function" ? value.bind(target) : value;
      return (...args: unknown[]) => {
        const stub = (value as (...a: unknown[]) => DurableObjectStub<T>).apply(target, args);
        // Every RPC call on a stub is its own billed request; `then` stays undefined so the wrapper is not a thenable.
        return new Proxy({} as DurableObjectStub<T>, {
          get: (_, method) =>
            method === "then"
              ? undefined
              : (...callArgs: unknown[]) => {
                  tally.doRequests += 1;
                  return (stub as unknown as Record<PropertyKey, (...a: unknown[]) => unknown>)[method]!(...callArgs);
                },
        });
      };
    },
  });
}

/** The Worker's env with D1 and the ContactTimer namespace metered. */
export function meteredEnv(env: Env, tally: Tally): Env {
  return { ...env, DB: meteredD1(env.DB, tally), CONTACT_TIMER: meteredNamespace(env.CONTACT_TIMER, tally) };
}

/** The SQLite cursors each tally's ContactTimers opened: their counters are final once the statement has run. */
const cursorsOf = new WeakMap<Tally, SqlStorageCursor<Record<string, SqlStorageValue>>[]>();

/** Adds the ContactTimers' storage rows to the tally (call when the metered work is over). */
export function settle(tally: Tally): Tally {
  for (const cursor of cursorsOf.get(tally) ?? []) {
    tally.doRowsRead += cursor.rowsRead;
    tally.doRowsWritten += cursor.rowsWritten;
  }
  cursorsOf.set(tally, []);
  return tally;
}

/** Meters a live ContactTimer: its D1 calls and Durable Object calls, and its SQLite storage's rows. */
export function meterContactTimer(instance: object, env: Env, tally: Tally): void {
  const timer = instance as { env: Env; sql: SqlStorage };
  timer.env = meteredEnv(env, tally);
  if (!cursorsOf.has(tally)) cursorsOf.set(tally, []);
  const sql = timer.sql;
  timer.sql = new Proxy(sql, {
    get(target, key) {
      const value = Reflect.get(target, key, target);
      if (key !== "exec") return typeof value === "function" ? value.bind(target) : value;
      return (query: string, ...bindings: SqlStorageValue[]) => {
        const cursor = target.exec(query, ...bindings);
        cursorsOf.get(tally)?.push(cursor);
        return cursor;
      };
    },
  });
}

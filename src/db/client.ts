/** One drizzle instance over the D1 binding; helpers in db/ take it as their first argument. */
import { drizzle } from "drizzle-orm/d1";
import * as schema from "./schema";

export type Database = ReturnType<typeof openDatabase>;

/** Opens drizzle over D1 with the whole schema. Cheap: no connection is made. */
export function openDatabase(d1: D1Database) {
  return drizzle(d1, { schema });
}

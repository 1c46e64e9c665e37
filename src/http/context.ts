/** The typed Hono context shared by every route module: bindings, parsed config and the request's drizzle instance. */

import type { Database } from "../db/client";
import type { Config, Env } from "../env";

export interface AppEnv {
  Bindings: Env;
  Variables: { config: Config; db: Database };
}

/** The typed Hono context shared by every route module: bindings, parsed config and the request's drizzle instance. */

import type { Database } from "../db/client";
import type { Config, Env } from "../env";
import type { PipelineContext } from "../pipeline/pipeline";

export interface AppEnv {
  Bindings: Env;
  Variables: { config: Config; db: Database };
}

/** The pipeline's context for this request: its bindings, parsed config and drizzle instance (set by the app's middleware). */
export function pipelineOf(c: { env: Env; var: AppEnv["Variables"] }): PipelineContext {
  return { env: c.env, config: c.var.config, db: c.var.db };
}

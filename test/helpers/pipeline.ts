/** The pipeline's context for tests, built from bindings as the Worker's entry points build it. */
import { env } from "cloudflare:workers";
import { openDatabase } from "../../src/db/client";
import { type Env, readConfig } from "../../src/env";
import type { PipelineContext } from "../../src/pipeline/pipeline";

/** The context the cron or the queue consumer would build from these bindings (the test env by default). */
export function pipelineFor(bindings: Env = env as Env): PipelineContext {
  return { env: bindings, config: readConfig(bindings), db: openDatabase(bindings.DB) };
}

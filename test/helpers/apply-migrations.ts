import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Setup files run in every test file's isolate, before its tests; applying is idempotent.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

import { execFileSync } from "node:child_process";
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// The islands are static assets (wrangler.toml [assets]); the pool does not run wrangler's [build].
execFileSync(process.execPath, [path.join(import.meta.dirname, "scripts", "build-client.mjs")], { stdio: "inherit" });

export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      main: "./src/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
        // The tracking queue as wrangler.toml declares it, but delivered at once instead of after a 2 s batch window:
        // tests wait for what its consumer records (a flow's 1 s waits must not pass first).
        queueConsumers: {
          "nurture-tracking": { maxBatchSize: 100, maxBatchTimeout: 0, maxRetries: 12, deadLetterQueue: "nurture-tracking-dead" },
        },
        bindings: {
          TEST_MIGRATIONS: await readD1Migrations(path.join(import.meta.dirname, "migrations")),
          ADMIN_API_KEY: "test-admin-key-0123456789",
          SIGNING_SECRET: "test-signing-secret-0123456789",
          SITE_KEY: "site_test",
          IDENTITY_SECRET: "test-identity-secret-0123456789",
          PUBLIC_URL: "https://nurture.test",
          SHOP_NAME: "Tea Co",
          SHOP_URL: "https://shop.test",
          ALLOWED_ORIGINS: "https://shop.test",
          MONTHLY_COST: "100",
          // The secret of the published Svix known-answer vector (../shared/reference/svix-known-answer.md).
          RESEND_WEBHOOK_SECRET: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
          // The connectors' secrets; test/fixtures/connect/signatures.json was computed with the first two.
          SHOPIFY_WEBHOOK_SECRET: "shpss_test_0123456789abcdef",
          WOOCOMMERCE_WEBHOOK_SECRET: "woo-test-secret-0123456789",
          STRIPE_WEBHOOK_SECRET: "whsec_test_0123456789abcdef",
        },
      },
    })),
  ],
  test: {
    setupFiles: ["./test/helpers/apply-migrations.ts"],
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
  },
});

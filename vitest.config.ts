import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [
    cloudflareTest(async () => ({
      main: "./src/index.ts",
      wrangler: { configPath: "./wrangler.toml" },
      miniflare: {
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

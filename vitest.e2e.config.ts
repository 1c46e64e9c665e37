import { defineConfig } from "vitest/config";

// Browser tests: plain Node (they drive `wrangler dev` and Chromium from outside).
export default defineConfig({
  test: {
    environment: "node",
    include: ["test/e2e/**/*.e2e.ts"],
    testTimeout: 180_000,
    hookTimeout: 180_000,
    fileParallelism: false,
  },
});

// `npm run capacity` runs only the capacity measurement, in workerd like the tests, with the tests' bindings;
// bench/capacity.mjs passes the sizes through the environment.
import { defineConfig } from "vitest/config";
import base from "../../vitest.config";

const size = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: [process.env.CAPACITY_FILE ?? "bench/capacity/measure.test.ts"],
    testTimeout: 1_800_000,
    provide: {
      capacitySizes: {
        audience: size("CAPACITY_CONTACTS", 200),
        contacts: size("CAPACITY_GROWN_CONTACTS", 100_000),
        events: size("CAPACITY_GROWN_EVENTS", 1_000_000),
      },
    },
  },
});

declare module "vitest" {
  export interface ProvidedContext {
    capacitySizes: { audience: number; contacts: number; events: number };
  }
}

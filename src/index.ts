/** Worker entry: HTTP through the Hono app, cron through `scheduled`, and the ContactTimer class. */
import { createApp } from "./app";
import { openDatabase } from "./db/client";
import type { Env } from "./env";
import { decideWinners } from "./reports/abtest";

export { ContactTimer } from "./contact/contact-timer";

const app = createApp();

/** The hourly housekeeping cron (wrangler.toml). */
const HOURLY_CRON = "7 * * * *";

export default {
  fetch: app.fetch,
  async scheduled(controller, env, _ctx) {
    // Delivery and housekeeping jobs are registered by their modules as they land.
    if (controller.cron === HOURLY_CRON) await decideWinners(openDatabase(env.DB), controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;

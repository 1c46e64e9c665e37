/** Worker entry: HTTP through the Hono app, cron through `scheduled`, and the ContactTimer class. */
import { createApp } from "./app";
import type { Env } from "./env";

export { ContactTimer } from "./contact/contact-timer";

const app = createApp();

export default {
  fetch: app.fetch,
  async scheduled(_controller, _env, _ctx) {
    // Delivery and housekeeping jobs are registered by their modules as they land.
  },
} satisfies ExportedHandler<Env>;

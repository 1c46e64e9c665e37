/** Worker entry: HTTP through the Hono app, cron through `scheduled`, opens and clicks through `queue`, and the Durable Object classes. */
import { createApp } from "./app";
import { advanceBroadcasts } from "./broadcasts/run";
import { redispatchUndispatched } from "./contact/record-events";
import { scheduleTimeTriggers } from "./contact/time-triggers";
import { openDatabase } from "./db/client";
import { applyRetention } from "./db/retention";
import { deliverDueMessages } from "./delivery/sender";
import { type Env, readConfig } from "./env";
import { decideWinners } from "./reports/abtest";
import { consumeTrackingQueue } from "./tracking/consumer";

export { ContactTimer } from "./contact/contact-timer";
export { Throttle } from "./http/throttle";

const app = createApp();

/** The every-minute cron (wrangler.toml): events a ContactTimer has not taken yet, broadcasts' fan-out, then delivery of due messages. */
const DELIVERY_CRON = "* * * * *";
/** The hourly housekeeping cron (wrangler.toml): A/B winners. */
const HOURLY_CRON = "7 * * * *";
/** The daily cron (wrangler.toml): date and inactivity triggers, then retention. */
const DAILY_CRON = "17 3 * * *";

export default {
  fetch: app.fetch,
  async scheduled(controller, env, _ctx) {
    const db = openDatabase(env.DB);
    if (controller.cron === DELIVERY_CRON) {
      // Delivery goes on even when handing events over fails again.
      await redispatchUndispatched(env, db, controller.scheduledTime).catch((error) => {
        console.error(JSON.stringify({ msg: "re-dispatching kept events failed", error: String(error) }));
      });
      // A broadcast that fails to advance must not hold up the delivery of everyone's due mail.
      await advanceBroadcasts(db, readConfig(env).SIGNING_SECRET, controller.scheduledTime).catch((error) =>
        console.error(JSON.stringify({ level: "error", message: "broadcast fan-out failed", error: String(error) })),
      );
      await deliverDueMessages(env);
      return;
    }
    if (controller.cron === HOURLY_CRON) await decideWinners(db, controller.scheduledTime);
    if (controller.cron === DAILY_CRON) {
      await scheduleTimeTriggers(env, db, controller.scheduledTime);
      await applyRetention(db, controller.scheduledTime, readConfig(env).RETENTION_DAYS);
    }
  },
  async queue(batch, env, _ctx) {
    await consumeTrackingQueue(batch, env);
  },
} satisfies ExportedHandler<Env>;

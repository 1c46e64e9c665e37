/** Worker entry: HTTP through the Hono app, cron through `scheduled`, opens and clicks through `queue`, and the Durable Object classes. */
import { createApp } from "./app";
import { advanceBroadcasts } from "./broadcasts/run";
import { TimerCallBudget } from "./contact/call-budget";
import { advanceContactScans, DEFAULT_SCAN_LIMITS, startDailyScans } from "./contact/contact-scans";
import { redispatchUndispatched } from "./contact/record-events";
import { openDatabase } from "./db/client";
import { applyRetention } from "./db/retention";
import { deliverDueMessages } from "./delivery/sender";
import { type Env, readConfig } from "./env";
import { decideWinners } from "./reports/abtest";
import { consumeTrackingQueue } from "./tracking/consumer";

export { ContactTimer } from "./contact/contact-timer";
export { Throttle } from "./http/throttle";

const app = createApp();

/**
 * The every-minute cron (wrangler.toml): events a ContactTimer has not taken yet, the next pages of contact walks
 * (resumed flows, date and inactivity scans), broadcasts' fan-out, then delivery of due messages. Each takes its
 * ContactTimer calls from one budget for the invocation (contact/call-budget).
 */
const DELIVERY_CRON = "* * * * *";
/** The hourly housekeeping cron (wrangler.toml): A/B winners. */
const HOURLY_CRON = "7 * * * *";
/** The daily cron (wrangler.toml): starts the date and inactivity scans and runs their first pages, then retention. */
const DAILY_CRON = "17 3 * * *";

export default {
  fetch: app.fetch,
  async scheduled(controller, env, _ctx) {
    const db = openDatabase(env.DB);
    if (controller.cron === DELIVERY_CRON) {
      const calls = TimerCallBudget.forPlan(readConfig(env));
      // Delivery goes on even when handing events over fails again.
      await redispatchUndispatched(env, db, controller.scheduledTime, calls).catch((error) => {
        console.error(JSON.stringify({ msg: "re-dispatching kept events failed", error: String(error) }));
      });
      // A walk that fails mid-page keeps its cursor: the next run repeats that page.
      await advanceContactScans(env, db, controller.scheduledTime, calls).catch((error) =>
        console.error(JSON.stringify({ level: "error", message: "contact walks failed", error: String(error) })),
      );
      // A broadcast that fails to advance must not hold up the delivery of everyone's due mail.
      await advanceBroadcasts(db, readConfig(env).SIGNING_SECRET, controller.scheduledTime).catch((error) =>
        console.error(JSON.stringify({ level: "error", message: "broadcast fan-out failed", error: String(error) })),
      );
      await deliverDueMessages(env, { calls });
      return;
    }
    if (controller.cron === HOURLY_CRON) await decideWinners(db, controller.scheduledTime);
    if (controller.cron === DAILY_CRON) {
      await startDailyScans(db, controller.scheduledTime);
      // A small shop's scans end here; the every-minute cron carries on with the rest. Five pages (12 D1 queries)
      // leave Free's 50 per invocation to retention.
      await advanceContactScans(env, db, controller.scheduledTime, TimerCallBudget.forPlan(readConfig(env)), {
        limits: { ...DEFAULT_SCAN_LIMITS, pages: 5 },
      });
      await applyRetention(db, controller.scheduledTime, readConfig(env).RETENTION_DAYS);
    }
  },
  async queue(batch, env, _ctx) {
    await consumeTrackingQueue(batch, env);
  },
} satisfies ExportedHandler<Env>;

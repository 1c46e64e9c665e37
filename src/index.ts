/** Worker entry: HTTP through the Hono app, cron through `scheduled`, opens and clicks through `queue`, and the Durable Object classes. */
import { createApp } from "./app";
import { advanceBroadcasts } from "./broadcasts/run";
import { TimerCallBudget } from "./contact/call-budget";
import { advanceContactScans, DEFAULT_SCAN_LIMITS, startDailyScans } from "./contact/contact-scans";
import { ContactTimer as ContactTimerLogic } from "./contact/contact-timer";
import { openDatabase } from "./db/client";
import { applyRetention } from "./db/retention";
import { type Env, readConfig } from "./env";
import { deliverDue, deliverNow, type PipelineContext, redispatchUndispatched } from "./pipeline/pipeline";
import { decideWinners } from "./reports/abtest";
import { consumeTrackingQueue } from "./tracking/consumer";

export { Throttle } from "./http/throttle";

const app = createApp();

/** The pipeline's context for a cron run, a queue batch or a ContactTimer: the config is parsed here, once. */
function pipelineOfEnv(env: Env): PipelineContext {
  return { env, config: readConfig(env), db: openDatabase(env.DB) };
}

/** The ContactTimer Durable Object as deployed: its config parsed once, the mail it makes due sent through the pipeline. */
export class ContactTimer extends ContactTimerLogic {
  private readonly pipeline: PipelineContext;

  constructor(ctx: DurableObjectState, env: Env) {
    const pipeline = pipelineOfEnv(env);
    super(ctx, env, pipeline.config);
    this.pipeline = pipeline;
  }

  protected override async sendNow(ids: string[]): Promise<void> {
    await deliverNow(this.pipeline, ids);
  }
}

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
  async scheduled(controller, env, _executionContext) {
    const ctx = pipelineOfEnv(env);
    const { config, db } = ctx;
    if (controller.cron === DELIVERY_CRON) {
      const calls = TimerCallBudget.forPlan(config);
      // Delivery goes on even when handing events over fails again.
      await redispatchUndispatched(ctx, controller.scheduledTime, calls).catch((error) => {
        console.error(JSON.stringify({ msg: "re-dispatching kept events failed", error: String(error) }));
      });
      // A walk that fails mid-page keeps its cursor: the next run repeats that page.
      await advanceContactScans(env, db, controller.scheduledTime, calls).catch((error) =>
        console.error(JSON.stringify({ level: "error", message: "contact walks failed", error: String(error) })),
      );
      // A broadcast that fails to advance must not hold up the delivery of everyone's due mail.
      await advanceBroadcasts(db, config.SIGNING_SECRET, controller.scheduledTime).catch((error) =>
        console.error(JSON.stringify({ level: "error", message: "broadcast fan-out failed", error: String(error) })),
      );
      await deliverDue(ctx, { calls });
      return;
    }
    if (controller.cron === HOURLY_CRON) await decideWinners(db, controller.scheduledTime);
    if (controller.cron === DAILY_CRON) {
      await startDailyScans(db, controller.scheduledTime);
      // A small shop's scans end here; the every-minute cron carries on with the rest. Five pages (12 D1 queries)
      // leave Free's 50 per invocation to retention.
      await advanceContactScans(env, db, controller.scheduledTime, TimerCallBudget.forPlan(config), {
        limits: { ...DEFAULT_SCAN_LIMITS, pages: 5 },
      });
      await applyRetention(db, controller.scheduledTime, config.RETENTION_DAYS);
    }
  },
  async queue(batch, env, _executionContext) {
    await consumeTrackingQueue(batch, pipelineOfEnv(env));
  },
} satisfies ExportedHandler<Env>;

/**
 * Builds the Hono app from the route modules: public surfaces first, then the
 * admin API behind the bearer key, then the OpenAPI document generated from
 * the same zod schemas that validate requests.
 */
import { bodyLimit } from "hono/body-limit";
import { dashboardRoutes } from "./dashboard/routes";
import { openDatabase } from "./db/client";
import { readConfig } from "./env";
import { adminAuth } from "./http/admin-auth";
import { broadcastRoutes } from "./http/broadcasts";
import { collectRoutes } from "./http/collect";
import { connectRoutes } from "./http/connect";
import { contactEnrollmentRoutes } from "./http/contact-enrollments";
import { contactListRoutes } from "./http/contact-lists";
import { contactRoutes } from "./http/contacts";
import { ApiError, handleError, handleNotFound } from "./http/errors";
import { eventRoutes } from "./http/events";
import { flowLifecycleRoutes } from "./http/flow-lifecycle";
import { flowSimulationRoutes } from "./http/flow-simulate";
import { flowTestRoutes } from "./http/flow-test";
import { flowRoutes } from "./http/flows";
import { healthRoutes } from "./http/health";
import { libraryRoutes } from "./http/library";
import { messageRoutes } from "./http/messages";
import { createRouter } from "./http/router";
import { segmentRoutes } from "./http/segments";
import { statsRoutes } from "./http/stats";
import { subscribeRoutes } from "./http/subscribe";
import { suppressionRoutes } from "./http/suppressions";
import { templateRoutes } from "./http/templates";
import { trackingRoutes } from "./http/tracking";
import { unsubscribeRoutes } from "./http/unsubscribe";
import { webhookRoutes } from "./http/webhooks";

/** The largest request body the admin API accepts (500 events with properties fit comfortably). */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Creates the Worker's Hono app. */
export function createApp() {
  const app = createRouter();
  app.onError(handleError);
  app.notFound(handleNotFound);

  app.use("*", async function attachConfigAndDb(c, next) {
    c.set("config", readConfig(c.env));
    c.set("db", openDatabase(c.env.DB));
    await next();
  });
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError(413, "payload_too_large", `The body exceeds ${MAX_BODY_BYTES} bytes`);
      },
    }),
  );

  app.route("/", healthRoutes);
  // Public surfaces: tokens and signatures are their authorisation.
  app.route("/", trackingRoutes);
  app.route("/", unsubscribeRoutes);
  app.route("/", subscribeRoutes);
  app.route("/", webhookRoutes);
  app.route("/", connectRoutes);
  // Before the admin key guard on /v1/*: the snippet's endpoint is authorised by SITE_KEY and CORS.
  app.route("/", collectRoutes);
  // The dashboard has its own cookie session; /v1/* keeps the bearer key.
  app.route("/", dashboardRoutes);

  app.use("/v1/*", adminAuth());
  // Before contactRoutes: /v1/contacts/export is not a contact's id.
  app.route("/", contactListRoutes);
  app.route("/", contactRoutes);
  app.route("/", contactEnrollmentRoutes);
  app.route("/", eventRoutes);
  app.route("/", flowRoutes);
  app.route("/", flowLifecycleRoutes);
  app.route("/", libraryRoutes);
  app.route("/", segmentRoutes);
  app.route("/", statsRoutes);
  app.route("/", templateRoutes);
  app.route("/", messageRoutes);
  app.route("/", flowTestRoutes);
  app.route("/", flowSimulationRoutes);
  app.route("/", suppressionRoutes);
  app.route("/", broadcastRoutes);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "Nurture API", version: "1.0.0", description: "Email marketing automation on Cloudflare Workers" },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "adminKey", { type: "http", scheme: "bearer" });
  return app;
}

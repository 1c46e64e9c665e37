/**
 * `POST /connect/shopify`, `/connect/woocommerce`, `/connect/stripe`: the shop platforms' signed webhooks
 * (SPEC section 11). Public: the signature on the raw body is the authorisation. An unconfigured secret is 404;
 * a missing, wrong or stale signature is 401 and writes nothing. Whatever a correctly signed request carries
 * answers 2xx, so the platform never disables the webhook: an unknown topic or a payload that does not fit is
 * 202 and ignored (logged, and shown on the dashboard's Connect page).
 */
import type { Context } from "hono";
import type { Connector, Mapping } from "../connect/connector";
import { connectorSecret, parseWebhookJson } from "../connect/connector";
import { CONNECTORS, connectorPath } from "../connect/connectors";
import { type HandOverResult, handOverMapping } from "../connect/hand-over";
import { recordConnectorDelivery } from "../db/connectors";
import { type AppEnv, pipelineOf } from "./context";
import { ApiError } from "./errors";
import { createRouter } from "./router";

async function receive(c: Context<AppEnv>, connector: Connector) {
  const secret = connectorSecret(c.var.config, connector);
  if (!secret) throw new ApiError(404, "not_found", `The ${connector.platform} connector is not configured (${connector.secretName})`);
  const body = await c.req.text();
  if (connector.isPing?.(body, c.req.raw.headers)) return c.json({ ok: true, ping: true }, 200);
  const now = Date.now();
  const verified = await connector.verify(secret, body, c.req.raw.headers, now);
  if (!verified.ok) {
    console.warn(JSON.stringify({ level: "warn", connector: connector.platform, rejected: verified.reason }));
    throw new ApiError(401, "invalid_signature", "The webhook signature is missing, wrong or too old");
  }
  const { delivery } = verified;
  const json = parseWebhookJson(body);
  const mapping: Mapping = json.ok
    ? connector.map(delivery, json.value, { shopUrl: c.var.config.SHOP_URL, now })
    : { kind: "ignored", reason: "the body is not JSON" };
  const outcome: HandOverResult =
    mapping.kind === "ignored" ? { result: "ignored", detail: mapping.reason } : await handOverMapping(pipelineOf(c), mapping, now);
  if (outcome.result === "ignored") {
    console.log(JSON.stringify({ level: "info", connector: connector.platform, topic: delivery.topic, ignored: outcome.detail }));
  }
  await recordConnectorDelivery(c.var.db, {
    platform: connector.platform,
    deliveryId: delivery.id.slice(0, 255) || null,
    topic: delivery.topic.slice(0, 100) || null,
    result: outcome.result,
    detail: outcome.detail.slice(0, 500),
    receivedAt: now,
  });
  return c.json({ ok: true, result: outcome.result, detail: outcome.detail }, outcome.result === "ignored" ? 202 : 200);
}

export const connectRoutes = createRouter();
for (const connector of CONNECTORS) {
  connectRoutes.post(connectorPath(connector), (c) => receive(c, connector));
}

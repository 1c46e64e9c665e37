/**
 * The dashboard's Connect page: for each platform, the webhook URL to paste, the topics to enable, the secret's
 * name and whether it is set, and the last delivery received (so the owner sees it working). Read-only.
 */
import type { Connector, Platform } from "../connect/connector";
import { CONNECTORS, connectorPath } from "../connect/connectors";
import type { ConnectorDeliveryRow } from "../db/schema";
import { formatTime } from "./format";
import { Layout } from "./layout";

/** Where, in each platform's admin, the webhook is created and its secret found. */
const SETUP: Record<Platform, { name: string; where: string; secret: string; format: string }> = {
  shopify: {
    name: "Shopify",
    where: "Shopify admin → Settings → Notifications → Webhooks → Create webhook, once per topic below.",
    secret: 'The secret is the key shown under the webhook list: "Your webhooks will be signed with …".',
    format: "Format JSON, the latest API version.",
  },
  woocommerce: {
    name: "WooCommerce",
    where: "WordPress admin → WooCommerce → Settings → Advanced → Webhooks → Add webhook, once per topic below.",
    secret: "Type a long random secret in the webhook's Secret field and store the same value in Nurture.",
    format: "Status Active, API version WP REST API Integration v3.",
  },
  stripe: {
    name: "Stripe",
    where: "Stripe Dashboard → Developers → Webhooks (Workbench: Event destinations) → Add endpoint, with the events below.",
    secret: "The secret is the endpoint's Signing secret (whsec_…), under Reveal.",
    format: "Your account's API version; a snapshot (not thin) payload.",
  },
};

function ConnectorSection(props: { connector: Connector; publicUrl: string; secretSet: boolean; last: ConnectorDeliveryRow | undefined }) {
  const { connector, last } = props;
  const setup = SETUP[connector.platform];
  const url = `${props.publicUrl.replace(/\/+$/, "")}${connectorPath(connector)}`;
  return (
    <section id={`connect-${connector.platform}`}>
      <h2>{setup.name}</h2>
      <table>
        <tbody>
          <tr>
            <th>Webhook URL</th>
            <td>
              <code>{url}</code>
            </td>
          </tr>
          <tr>
            <th>Where</th>
            <td>
              {setup.where} {setup.format}
            </td>
          </tr>
          <tr>
            <th>Topics</th>
            <td>
              {connector.topics.map((t) => (
                <>
                  <code>{t}</code>{" "}
                </>
              ))}
            </td>
          </tr>
          <tr>
            <th>Secret</th>
            <td>
              <code>{connector.secretName}</code>:{" "}
              {props.secretSet ? (
                <span class="badge active">set</span>
              ) : (
                <>
                  <span class="badge paused">not set</span> the URL answers 404 until you run{" "}
                  <code>npx wrangler secret put {connector.secretName}</code>.
                </>
              )}{" "}
              <span class="muted">{setup.secret}</span>
            </td>
          </tr>
          <tr>
            <th>Last delivery</th>
            <td class="last-delivery">
              {last ? (
                <>
                  {formatTime(last.receivedAt)}: <strong>{last.result}</strong> {last.topic ? <code>{last.topic}</code> : null}{" "}
                  <span class="muted">{last.detail ?? ""}</span>
                </>
              ) : (
                <span class="muted">
                  None received yet. Send a test from {setup.name} (or place a test order); if {setup.name} reports failed deliveries but
                  nothing shows here, the secret does not match: a request with a wrong signature is refused and never recorded.
                </span>
              )}
            </td>
          </tr>
        </tbody>
      </table>
    </section>
  );
}

/** The Connect page. */
export function ConnectPage(props: {
  csrf: string;
  publicUrl: string;
  secretsSet: Record<Platform, boolean>;
  deliveries: Map<string, ConnectorDeliveryRow>;
}) {
  return (
    <Layout title="Connect" section="/admin/connect" csrf={props.csrf}>
      <h1>Connect your shop</h1>
      <p class="muted">
        Your shop platform and Stripe send Nurture their real orders, carts, customers and payments as signed webhooks; no code needed.
        Paste each URL into the platform, enable its topics, and store its secret in Nurture. The README's "Connect your shop" has every
        step.
      </p>
      {CONNECTORS.map((connector) => (
        <ConnectorSection
          connector={connector}
          publicUrl={props.publicUrl}
          secretSet={props.secretsSet[connector.platform]}
          last={props.deliveries.get(connector.platform)}
        />
      ))}
    </Layout>
  );
}

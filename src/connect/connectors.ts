/** Every connector Nurture has, in the order the dashboard lists them, and the path each platform posts to. */
import type { Connector } from "./connector";
import { shopify } from "./shopify";
import { stripe } from "./stripe";
import { woocommerce } from "./woocommerce";

/** Every connector, in the order the Connect page lists them. */
export const CONNECTORS: readonly Connector[] = [shopify, woocommerce, stripe];

/** The path a platform posts its webhooks to. */
export function connectorPath(connector: Connector): string {
  return `/connect/${connector.platform}`;
}

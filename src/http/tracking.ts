/**
 * The open pixel and the click redirect. Both answer at once and record off
 * the response path (`waitUntil`). A token is checked before anything else: a
 * forged, truncated or unknown one gets 404, and the redirect only ever goes
 * to the URL recorded for that message and link.
 */
import { sql } from "drizzle-orm";
import { recordLater } from "../tracking/batcher";
import { trackedDestination } from "../tracking/links";
import { signExpiringToken, verifyToken } from "../tracking/tokens";
import { ApiError } from "./errors";
import { createRouter } from "./router";

/** A transparent 1×1 GIF. */
const PIXEL = Uint8Array.from(atob("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"), (c) => c.charCodeAt(0));
/** How long the `_nt` identity a click carries to the site stays valid. */
const IDENTITY_TTL_MS = 30 * 86_400_000;
const TOKEN_MAX = 200;

const notFound = () => new ApiError(404, "not_found", "No such link");

export const trackingRoutes = createRouter()
  .get("/o/:token", async (c) => {
    const token = c.req.param("token").slice(0, TOKEN_MAX);
    const fields = await verifyToken(c.var.config.SIGNING_SECRET, "open", token);
    if (fields) {
      const open = { kind: "open", messageId: fields[0]!, userAgent: c.req.header("user-agent") ?? "", at: Date.now() } as const;
      recordLater(c.executionCtx, c.env, c.var.db, open);
    }
    // The pixel is answered either way: a mail client shows nothing broken, and a prober learns nothing.
    return c.body(PIXEL, 200, {
      "content-type": "image/gif",
      "cache-control": "no-store, max-age=0",
      "content-length": String(PIXEL.length),
    });
  })
  .get("/c/:token", async (c) => {
    const config = c.var.config;
    const fields = await verifyToken(config.SIGNING_SECRET, "click", c.req.param("token").slice(0, TOKEN_MAX));
    if (!fields || !/^\d{1,4}$/.test(fields[1] ?? "")) throw notFound();
    const [messageId, index] = [fields[0]!, Number(fields[1])];
    const [link] = await c.var.db.all<{ url: string; contactId: string | null; flowId: string | null; stepId: string | null }>(
      sql`SELECT l.url AS url, m.contact_id AS contactId, m.flow_id AS flowId, m.step_id AS stepId
          FROM links l JOIN messages m ON m.id = l.message_id WHERE l.message_id = ${messageId} AND l.idx = ${index}`,
    );
    if (!link) throw notFound();
    const now = Date.now();
    const identity = link.contactId
      ? await signExpiringToken(config.SIGNING_SECRET, "identity", [link.contactId], now + IDENTITY_TTL_MS)
      : "";
    const destination = trackedDestination(link.url, link.flowId, link.stepId, identity);
    if (!destination) throw notFound();
    const request = { method: c.req.method, userAgent: c.req.header("user-agent") ?? "" };
    recordLater(c.executionCtx, c.env, c.var.db, { kind: "click", messageId, index, url: link.url, request, at: now });
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "no-referrer");
    return c.redirect(destination, 302);
  });

/**
 * The open pixel and the click redirect. Both answer at once and hand what
 * they saw to the tracking queue off the response path (tracking/enqueue.ts;
 * its consumer records it), and neither reads storage: a click token
 * carries its link, signed. A token is checked before anything else: a
 * forged, truncated or altered one gets 404, and the redirect only ever goes
 * to the URL signed for that message and link.
 */
import { enqueueEngagement } from "../tracking/enqueue";
import { readClickToken, trackedDestination } from "../tracking/links";
import { verifyToken } from "../tracking/tokens";
import { ApiError } from "./errors";
import { createRouter } from "./router";

/** A transparent 1×1 GIF. */
const PIXEL = Uint8Array.from(atob("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"), (c) => c.charCodeAt(0));

/** A user agent as machine detection reads it; a longer one is cut, so that a queue message stays small. */
const userAgentOf = (header: string | undefined) => (header ?? "").slice(0, 1000);

const notFound = () => new ApiError(404, "not_found", "No such link");

export const trackingRoutes = createRouter()
  .get("/o/:token", async (c) => {
    const fields = await verifyToken(c.var.config.SIGNING_SECRET, "open", c.req.param("token"));
    if (fields) {
      const open = { kind: "open", messageId: fields[0]!, userAgent: userAgentOf(c.req.header("user-agent")), at: Date.now() } as const;
      enqueueEngagement(c.executionCtx, c.env.TRACKING, open);
    }
    // The pixel is answered either way: a mail client shows nothing broken, and a prober learns nothing.
    return c.body(PIXEL, 200, {
      "content-type": "image/gif",
      "cache-control": "no-store, max-age=0",
      "content-length": String(PIXEL.length),
    });
  })
  .get("/c/:token", async (c) => {
    const secret = c.var.config.SIGNING_SECRET;
    const target = await readClickToken(secret, c.req.param("token"));
    if (!target) throw notFound();
    const now = Date.now();
    const destination = await trackedDestination(target, c.var.config, now);
    if (!destination) throw notFound();
    const request = { method: c.req.method, userAgent: userAgentOf(c.req.header("user-agent")) };
    const click = { kind: "click", messageId: target.messageId, index: target.index, url: target.url, request, at: now } as const;
    enqueueEngagement(c.executionCtx, c.env.TRACKING, click);
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "no-referrer");
    return c.redirect(destination, 302);
  });

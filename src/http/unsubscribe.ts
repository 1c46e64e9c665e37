/**
 * The recipient's pages: `/u/:token` (unsubscribe: a page with a button, and
 * RFC 8058 one-click POSTs from mailbox providers) and `/confirm/:token`
 * (double opt-in). A GET never changes anything, because mail scanners fetch
 * every link; tokens are signed, and a bad one gets a plain 404 page.
 */
import type { Context } from "hono";
import { confirmSubscription, unsubscribeContact } from "../tracking/consent";
import { verifyExpiringToken, verifyToken } from "../tracking/tokens";
import type { AppEnv } from "./context";
import { createRouter } from "./router";

const TOKEN_MAX = 200;
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const STYLE =
  "body{font:16px/1.5 system-ui,sans-serif;color:#0f172a;background:#f8fafc;margin:0}main{max-width:460px;margin:12vh auto;background:#fff;padding:28px;border-radius:12px;box-shadow:0 2px 8px #0002}button{font:inherit;padding:8px 16px;border-radius:8px;border:0;background:#2563eb;color:#fff;cursor:pointer}";

function page(c: Context, title: string, body: string, status: 200 | 404 = 200) {
  c.header("Content-Security-Policy", PAGE_CSP);
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", "no-referrer");
  return c.html(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${title}</title><style>${STYLE}</style></head><body><main>${body}</main></body></html>`,
    status,
  );
}

const invalid = (c: Context) =>
  page(c, "Link not valid", "<h1>This link is not valid</h1><p>It may be incomplete or out of date.</p>", 404);

function unsubscribeFields(c: Context<AppEnv>, token: string) {
  return verifyToken(c.var.config.SIGNING_SECRET, "unsubscribe", token.slice(0, TOKEN_MAX));
}

export const unsubscribeRoutes = createRouter()
  .get("/u/:token", async (c) => {
    if (!(await unsubscribeFields(c, c.req.param("token")))) return invalid(c);
    return page(
      c,
      "Unsubscribe",
      `<h1>Unsubscribe?</h1><p>You will get no more marketing email from us. Receipts and other mail about your orders still arrive.</p>
       <form method="post"><input type="hidden" name="confirm" value="all-marketing"><button type="submit">Unsubscribe from all marketing</button></form>`,
    );
  })
  .post("/u/:token", async (c) => {
    // RFC 8058 one-click (body List-Unsubscribe=One-Click) and the page's form both land here.
    const fields = await unsubscribeFields(c, c.req.param("token"));
    if (!fields || !(await unsubscribeContact(c.env, c.var.db, fields[0]!, Date.now()))) return invalid(c);
    return page(c, "Unsubscribed", "<h1>You are unsubscribed</h1><p>You will get no more marketing email from us.</p>");
  })
  .get("/confirm/:token", async (c) => {
    const now = Date.now();
    const fields = await verifyExpiringToken(c.var.config.SIGNING_SECRET, "confirm", c.req.param("token").slice(0, TOKEN_MAX), now);
    if (!fields || !(await confirmSubscription(c.env, c.var.db, fields[0]!, now))) return invalid(c);
    return page(c, "Subscribed", "<h1>Thank you, you are subscribed</h1><p>Your first email is on its way.</p>");
  });

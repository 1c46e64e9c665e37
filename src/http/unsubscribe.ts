/**
 * The recipient's pages: `/u/:token` (unsubscribe: a page with a button, and
 * RFC 8058 one-click POSTs from mailbox providers) and `/confirm/:token`
 * (double opt-in: the GET shows a button, only the POST confirms, a link
 * confirms once and never re-subscribes someone who unsubscribed after it was
 * issued). A GET never changes anything, because mail scanners fetch every
 * link; tokens are signed, and a bad one gets a plain 404 page.
 */
import type { Context } from "hono";
import { findContact } from "../db/contacts";
import {
  type ConfirmationState,
  confirmationId,
  confirmationState,
  confirmSubscription,
  escapeHtml,
  unsubscribeContact,
} from "../tracking/consent";
import { signIdentityToken } from "../tracking/links";
import { verifyExpiringToken, verifyToken } from "../tracking/tokens";
import { type AppEnv, pipelineOf } from "./context";
import { recipientPage } from "./recipient-page";
import { createRouter } from "./router";
import { allowHit, clientIp, rateLimited } from "./throttle";

const TOKEN_MAX = 200;
/** How long the `_nt` identity on the confirmed page ties the confirming browser to the contact. */
const CONFIRMED_IDENTITY_TTL_MS = 30 * 86_400_000;

const invalid = (c: Context<AppEnv>) =>
  recipientPage(c, "Link not valid", "<h1>This link is not valid</h1><p>It may be incomplete or out of date.</p>", 404);

/** A confirmation token's contact and issue time, or null when it is forged, altered or expired. */
async function confirmationFields(c: Context<AppEnv>, now: number): Promise<{ contactId: string; issuedAt: number } | null> {
  const fields = await verifyExpiringToken(c.var.config.SIGNING_SECRET, "confirm", c.req.param("token")!.slice(0, TOKEN_MAX), now);
  const issuedAt = Number(fields?.[1]);
  return fields?.length === 2 && Number.isFinite(issuedAt) ? { contactId: fields[0]!, issuedAt } : null;
}

/** The page for a link that can no longer confirm. */
function spentConfirmation(c: Context<AppEnv>, state: Exclude<ConfirmationState, "valid">) {
  return state === "already_confirmed"
    ? recipientPage(c, "Already subscribed", "<h1>You are already subscribed</h1><p>There is nothing more to do.</p>")
    : recipientPage(
        c,
        "Link no longer valid",
        "<h1>This link is no longer valid</h1><p>Your subscription changed since it was sent. To subscribe again, sign up on our site.</p>",
        410,
      );
}

function unsubscribeFields(c: Context<AppEnv>, token: string) {
  return verifyToken(c.var.config.SIGNING_SECRET, "unsubscribe", token.slice(0, TOKEN_MAX));
}

export const unsubscribeRoutes = createRouter()
  .get("/u/:token", async (c) => {
    const fields = await unsubscribeFields(c, c.req.param("token"));
    if (!fields) return invalid(c);
    const contact = await findContact(c.var.db, fields[0]!);
    if (contact && contact.id === fields[0] && contact.consent === "unsubscribed") {
      return recipientPage(
        c,
        "Unsubscribed",
        "<h1>You are already unsubscribed</h1><p>You get no marketing email from us. There is nothing more to do.</p>",
      );
    }
    return recipientPage(
      c,
      "Unsubscribe",
      `<h1>Unsubscribe?</h1><p>You will get no more marketing email from us. Receipts and other mail about your orders still arrive.</p>
       <form method="post"><input type="hidden" name="confirm" value="all-marketing"><button type="submit">Unsubscribe from all marketing</button></form>`,
    );
  })
  .post("/u/:token", async (c) => {
    // RFC 8058 one-click (body List-Unsubscribe=One-Click) and the page's form both land here.
    const fields = await unsubscribeFields(c, c.req.param("token"));
    if (!fields || !(await unsubscribeContact(pipelineOf(c), fields[0]!, Date.now()))) return invalid(c);
    return recipientPage(c, "Unsubscribed", "<h1>You are unsubscribed</h1><p>You will get no more marketing email from us.</p>");
  })
  .get("/confirm/:token", async (c) => {
    // Scanners fetch (GET and HEAD) every link: this only shows the button.
    const now = Date.now();
    const fields = await confirmationFields(c, now);
    if (!fields) return invalid(c);
    const contact = await findContact(c.var.db, fields.contactId);
    const state = confirmationState(contact?.id === fields.contactId ? contact : undefined, fields.issuedAt);
    if (state !== "valid") return spentConfirmation(c, state);
    return recipientPage(
      c,
      "Confirm your subscription",
      `<h1>Confirm your subscription</h1><p>Press the button to start receiving our emails.</p>
       <form method="post"><button type="submit">Yes, subscribe me</button></form>`,
    );
  })
  .post("/confirm/:token", async (c) => {
    const ip = clientIp(c);
    if (ip && !(await allowHit(c.env, "confirm", ip))) throw rateLimited(c, "confirm");
    const now = Date.now();
    const fields = await confirmationFields(c, now);
    if (!fields) return invalid(c);
    const state = await confirmSubscription(pipelineOf(c), fields.contactId, fields.issuedAt, now);
    if (state !== "valid") return spentConfirmation(c, state);
    // The browser that confirms (not the one that typed the address) is tied to the contact: the snippet on the
    // shop picks the signed `_nt` identity up from this link.
    const { SIGNING_SECRET, SHOP_URL, PUBLIC_URL } = c.var.config;
    const shop = new URL(SHOP_URL ?? PUBLIC_URL);
    const confirmed = await findContact(c.var.db, fields.contactId);
    const identity = { contactId: fields.contactId, messageId: await confirmationId(confirmed?.email ?? "", fields.issuedAt) };
    shop.searchParams.set("_nt", await signIdentityToken(SIGNING_SECRET, identity, now + CONFIRMED_IDENTITY_TTL_MS));
    return recipientPage(
      c,
      "Subscribed",
      `<h1>Thank you, you are subscribed</h1><p>Your first email is on its way.</p><p><a href="${escapeHtml(shop.toString())}">Continue to the shop</a></p>`,
    );
  });

/**
 * The hosted sign-up page, `GET /subscribe` and its `POST`, for shops that would rather link to a form than paste
 * one: server-rendered, works without JavaScript (only the optional Turnstile widget runs any). A post is a
 * sign-up form like the snippet's (tracking/signup.ts) under the same rules: Turnstile when configured, the
 * per-address and per-IP sign-up limits, and a same-origin check, so another site cannot make its visitors'
 * browsers sign addresses up from many IPs. Errors are the form again with the problem next to it, or the SPEC's
 * JSON error for a client that does not ask for HTML.
 */
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { findContact } from "../db/contacts";
import { shopName } from "../env";
import { escapeHtml } from "../tracking/consent";
import { signUpFromForm, signupMayMail } from "../tracking/signup";
import { MAX_TURNSTILE_TOKEN, turnstilePassed, turnstileRequired } from "../tracking/turnstile";
import { type AppEnv, pipelineOf } from "./context";
import { ApiError, zodIssues } from "./errors";
import { type PageOptions, recipientPage } from "./recipient-page";
import { createRouter } from "./router";
import { sameOrigin } from "./session";
import { emailInput } from "./shared-schemas";
import { allowHit, clientIp, rateLimited } from "./throttle";

const TURNSTILE_ORIGIN = "https://challenges.cloudflare.com";
const FORM_STYLE =
  "label{display:block;margin:12px 0 4px;font-weight:500}input{font:inherit;width:100%;box-sizing:border-box;padding:8px;border:1px solid #cbd5e1;border-radius:8px}.error{color:#b91c1c}.cf-turnstile{margin:12px 0}button{margin-top:16px}";

const optionalName = z
  .string()
  .trim()
  .max(200)
  .optional()
  .transform((v) => v || undefined);

/** The hosted form's fields. */
const SubscribeForm = z.object({
  email: emailInput,
  first_name: optionalName,
  last_name: optionalName,
  "cf-turnstile-response": z.string().max(MAX_TURNSTILE_TOKEN).optional(),
});

type FormValues = { email?: string; first_name?: string };

function pageOptions(c: Context<AppEnv>): PageOptions {
  return {
    sendsOrigin: true,
    style: FORM_STYLE,
    ...(turnstileRequired(c.var.config) ? { scriptOrigins: [TURNSTILE_ORIGIN] } : {}),
  };
}

/** The sign-up form, filled in with what was posted and the problem with it, if any. */
function formPage(c: Context<AppEnv>, values: FormValues = {}, problem?: string, status: ContentfulStatusCode = 200) {
  const config = c.var.config;
  const shop = escapeHtml(shopName(config));
  const firstName = config.SNIPPET_TRAITS.includes("first_name")
    ? `<label for="first_name">First name (optional)</label><input id="first_name" name="first_name" autocomplete="given-name" maxlength="200" value="${escapeHtml(values.first_name ?? "")}">`
    : "";
  const turnstile = config.TURNSTILE_SITE_KEY
    ? `<div class="cf-turnstile" data-sitekey="${escapeHtml(config.TURNSTILE_SITE_KEY)}"></div><script src="${TURNSTILE_ORIGIN}/turnstile/v0/api.js" async defer></script>`
    : "";
  const error = problem ? `<p class="error" role="alert">${escapeHtml(problem)}</p>` : "";
  const confirmNote =
    config.SIGNUP_OPT_IN === "double" ? "<p>We will send you an email with a button to confirm your subscription.</p>" : "";
  return recipientPage(
    c,
    "Subscribe",
    `<h1>Get emails from ${shop}</h1>${confirmNote}${error}
     <form method="post" action="/subscribe">
       <label for="email">Email address</label><input id="email" name="email" type="email" required autocomplete="email" maxlength="254" value="${escapeHtml(values.email ?? "")}">
       ${firstName}${turnstile}
       <button type="submit">Subscribe</button>
     </form>
     <p><small>You can unsubscribe at any time with the link in every email.</small></p>`,
    status,
    pageOptions(c),
  );
}

/** Whether the client reads pages (a browser's form post) rather than JSON. */
const wantsHtml = (c: Context<AppEnv>) => (c.req.header("accept") ?? "").includes("text/html");

async function subscribe(c: Context<AppEnv>, fields: Record<string, unknown>): Promise<void> {
  if (!sameOrigin(c)) throw new ApiError(403, "origin_not_allowed", "This form did not come from this site");
  const parsed = SubscribeForm.safeParse(fields);
  if (!parsed.success) throw new ApiError(422, "validation_failed", "Please enter a valid email address", zodIssues(parsed.error));
  const form = parsed.data;
  const config = c.var.config;
  const ip = clientIp(c);
  const token = form["cf-turnstile-response"];
  if (turnstileRequired(config)) {
    if (!token) throw new ApiError(400, "turnstile_required", "Please complete the check above the button");
    if (!(await turnstilePassed(config, token, ip))) throw new ApiError(403, "turnstile_failed", "The check failed; please try again");
  }
  if (!(await allowHit(c.env, "identify", form.email))) throw rateLimited(c, "identify");
  if (ip && signupMayMail(await findContact(c.var.db, form.email)) && !(await allowHit(c.env, "signup", ip))) {
    throw rateLimited(c, "signup");
  }
  await signUpFromForm(
    pipelineOf(c),
    { email: form.email, traits: { first_name: form.first_name, last_name: form.last_name } },
    Date.now(),
  );
}

export const subscribeRoutes = createRouter()
  .get("/subscribe", (c) => formPage(c))
  .post("/subscribe", async (c) => {
    const body = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    try {
      await subscribe(c, body);
    } catch (error) {
      if (!(error instanceof ApiError) || !wantsHtml(c)) throw error;
      const values = { email: String(body.email ?? "").slice(0, 254), first_name: String(body.first_name ?? "").slice(0, 200) };
      return formPage(c, values, error.message, error.status);
    }
    // The same answer whatever the address's state: the page tells a stranger nothing about contacts.
    const next =
      c.var.config.SIGNUP_OPT_IN === "double"
        ? "<p>We sent you an email with a button to confirm your subscription. If it has not arrived in a few minutes, look in your spam folder.</p>"
        : "<p>Thank you for subscribing. Your first email from us is on its way.</p>";
    return recipientPage(c, "Check your inbox", `<h1>Check your inbox</h1>${next}`, 200, pageOptions(c));
  });

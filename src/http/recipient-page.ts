/**
 * The frame of every page a recipient or visitor sees outside the dashboard (unsubscribe, confirm, the hosted
 * sign-up form): plain server-rendered HTML headed with the shop's name, so that they know whose list this is,
 * with a strict CSP and no caching.
 */
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { shopName } from "../env";
import { escapeHtml } from "../tracking/consent";
import type { AppEnv } from "./context";

const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const STYLE =
  ".shop{margin:0 0 8px;font-weight:600;color:#475569}body{font:16px/1.5 system-ui,sans-serif;color:#0f172a;background:#f8fafc;margin:0}main{max-width:460px;margin:12vh auto;background:#fff;padding:28px;border-radius:12px;box-shadow:0 2px 8px #0002}button{font:inherit;padding:8px 16px;border-radius:8px;border:0;background:#2563eb;color:#fff;cursor:pointer}";

/** What a page may load beyond its own inline style: third-party scripts and frames (Turnstile's widget). */
export interface PageOptions {
  scriptOrigins?: string[];
  /** The page posts a form that checks its `Origin`, which `no-referrer` would blank to `null`. */
  sendsOrigin?: boolean;
  /** Extra CSS for this page. */
  style?: string;
}

/** A recipient's page: `body` is trusted HTML, `title` plain text. */
export function recipientPage(
  c: Context<AppEnv>,
  title: string,
  body: string,
  status: ContentfulStatusCode = 200,
  options: PageOptions = {},
) {
  const shop = escapeHtml(shopName(c.var.config));
  const origins = options.scriptOrigins?.join(" ");
  c.header("Content-Security-Policy", origins ? `${PAGE_CSP}; script-src ${origins}; frame-src ${origins}` : PAGE_CSP);
  c.header("Cache-Control", "no-store");
  c.header("Referrer-Policy", options.sendsOrigin ? "same-origin" : "no-referrer");
  return c.html(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)} · ${shop}</title><style>${STYLE}${options.style ?? ""}</style></head><body><main><p class="shop">${shop}</p>${body}</main></body></html>`,
    status,
  );
}

/**
 * Turns a queued message into the email that is sent: Liquid over the
 * template with the contact, event, flow and message; then HTMLRewriter
 * rewrites each tracked link into a signed `/c/` link (the real URLs are kept
 * in `links`), adds the hidden preheader, the open pixel and, for marketing,
 * the footer with the unsubscribe link and postal address; a plain-text part
 * is derived when the template has none; headers carry RFC 8058 one-click
 * unsubscribe and Resend tags name the flow, step and message.
 */

import type { ContactRow, MessageKind, MessageRow, TemplateRow } from "../db/schema";
import type { Config } from "../env";
import { signClickToken } from "../tracking/links";
import { signToken } from "../tracking/tokens";
import { liquid } from "./liquid";

export interface RenderedEmail {
  from: string;
  to: string;
  replyTo: string | null;
  subject: string;
  html: string;
  text: string;
  headers: Record<string, string>;
  tags: { name: string; value: string }[];
  /** Tracked links by index, as the `/c/` tokens address them. */
  links: string[];
}

/** Kinds whose opens and clicks are tracked. Notifications to staff and confirmation mails are not. */
const TRACKED: ReadonlySet<MessageKind> = new Set(["marketing", "transactional", "test"]);
/** Kinds that carry the unsubscribe footer and headers. */
const UNSUBSCRIBABLE: ReadonlySet<MessageKind> = new Set(["marketing", "test"]);

/** The data a template may read, documented in the README. */
export function templateContext(message: MessageRow, contact: ContactRow | null, config: Config, unsubscribeUrl: string) {
  const extra = message.context ?? {};
  return {
    ...extra,
    contact: contact
      ? {
          id: contact.id,
          email: contact.email,
          first_name: contact.firstName ?? "",
          last_name: contact.lastName ?? "",
          timezone: contact.timezone,
          lifecycle_stage: contact.lifecycleStage,
          consent: contact.consent,
          tags: contact.tags,
          orders_count: contact.ordersCount,
          total_spent: contact.totalSpent,
          // ISO instants, so that templates can format them with Liquid's `date` filter (e.g. a rep's lead summary).
          last_opened_at: isoOrNull(contact.lastOpenedAt),
          last_clicked_at: isoOrNull(contact.lastClickedAt),
          last_order_at: isoOrNull(contact.lastOrderAt),
          attributes: contact.attributes,
        }
      : { email: message.toEmail, attributes: {}, tags: [] },
    message: { id: message.id, kind: message.kind },
    unsubscribe_url: unsubscribeUrl,
    shop: {
      name: config.SHOP_NAME ?? senderName(config.FROM_EMAIL),
      url: config.SHOP_URL ?? config.PUBLIC_URL,
      postal_address: config.POSTAL_ADDRESS,
    },
    dashboard_url: `${config.PUBLIC_URL}/admin`,
  };
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

function senderName(from: string): string {
  const m = /^\s*"?([^"<]+?)"?\s*</.exec(from);
  return m ? m[1]! : from;
}

/** The unsubscribe link for a contact (and the message it came in). */
export async function unsubscribeUrl(config: Config, contactId: string, messageId: string): Promise<string> {
  return `${config.PUBLIC_URL}/u/${await signToken(config.SIGNING_SECRET, "unsubscribe", [contactId, messageId])}`;
}

/** Renders a message from its template (or its prefilled subject/html) into the email to send. */
export async function renderMessage(
  message: MessageRow,
  template: TemplateRow | null,
  contact: ContactRow | null,
  config: Config,
): Promise<RenderedEmail> {
  const unsubscribe = contact ? await unsubscribeUrl(config, contact.id, message.id) : "";
  const data = templateContext(message, contact, config, unsubscribe);
  // A message queued with its content already written (no template) is sent as written.
  const render = (source: string | null | undefined) =>
    !source ? Promise.resolve("") : template ? liquid.parseAndRender(source, data) : Promise.resolve(source);
  const source = template ?? {
    subject: message.subject ?? "",
    html: message.html ?? "",
    text: message.text,
    from: message.fromEmail,
    replyTo: null,
    preheader: null,
  };
  const [subject, body, text, from, replyTo, preheader] = await Promise.all([
    render(source.subject),
    render(source.html),
    render(source.text),
    render(source.from),
    render(source.replyTo),
    render(source.preheader),
  ]);
  const tracked = TRACKED.has(message.kind);
  const footer = UNSUBSCRIBABLE.has(message.kind) && contact ? { unsubscribe, postalAddress: config.POSTAL_ADDRESS } : null;
  const { html, links } = await decorateHtml(body, { message, config, tracked, preheader: preheader.trim(), footer });
  const headers: Record<string, string> = {};
  if (footer) {
    headers["List-Unsubscribe"] = `<${unsubscribe}>`;
    headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click";
  }
  return {
    from: from.trim() || config.FROM_EMAIL,
    to: message.toEmail,
    replyTo: replyTo.trim() || null,
    subject: subject.replace(/\s+/g, " ").trim(),
    html,
    text: text.trim() ? text : htmlToText(html),
    headers,
    tags: resendTags(message),
    links,
  };
}

/** The flow, step and message as Resend tags (ASCII letters, numbers, `_` and `-` only). */
export function resendTags(message: MessageRow): { name: string; value: string }[] {
  const clean = (v: string) => v.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 256);
  const tags = [{ name: "message", value: clean(message.id) }];
  if (message.flowId) tags.push({ name: "flow", value: clean(message.flowId) });
  if (message.stepId) tags.push({ name: "step", value: clean(message.stepId) });
  return tags;
}

interface Decoration {
  message: MessageRow;
  config: Config;
  tracked: boolean;
  preheader: string;
  footer: { unsubscribe: string; postalAddress: string } | null;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Rewrites links, and adds preheader, pixel and footer, with the Workers-native streaming rewriter. */
async function decorateHtml(body: string, d: Decoration): Promise<{ html: string; links: string[] }> {
  const links: string[] = [];
  const secret = d.config.SIGNING_SECRET;
  const pixel = d.tracked
    ? `<img src="${d.config.PUBLIC_URL}/o/${await signToken(secret, "open", [d.message.id])}" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0" />`
    : "";
  const preheader = d.preheader
    ? `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">${escapeHtml(d.preheader)}</div>`
    : "";
  const footer = d.footer
    ? `<div style="margin-top:32px;font-size:12px;color:#6b7280;text-align:center">${d.footer.postalAddress ? `${escapeHtml(d.footer.postalAddress)}<br />` : ""}<a href="${escapeHtml(d.footer.unsubscribe)}">Unsubscribe</a></div>`
    : "";
  // Content the rewriter inserts is never re-processed, so the footer's unsubscribe link stays as is;
  // an unsubscribe link the template writes itself is left untracked too.
  const unsubscribePrefix = `${d.config.PUBLIC_URL}/u/`;
  let sawBody = false;
  const rewriter = new HTMLRewriter()
    .on("a[href]", {
      async element(a) {
        const href = a.getAttribute("href")?.trim() ?? "";
        if (a.hasAttribute("data-nurture-notrack")) {
          a.removeAttribute("data-nurture-notrack");
          return;
        }
        if (!d.tracked || !/^https?:\/\//i.test(href) || href.startsWith(unsubscribePrefix)) return;
        const index = links.push(href) - 1;
        a.setAttribute("href", `${d.config.PUBLIC_URL}/c/${await signClickToken(secret, d.message, index, href)}`);
      },
    })
    .on("body", {
      element(element) {
        sawBody = true;
        if (preheader) element.prepend(preheader, { html: true });
        element.onEndTag((end) => {
          end.before(footer + pixel, { html: true });
        });
      },
    })
    .onDocument({
      end(end) {
        if (!sawBody) end.append(footer + pixel, { html: true });
      },
    });
  const html = await rewriter.transform(new Response(body)).text();
  return { html: sawBody || !preheader ? html : preheader + html, links };
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'", nbsp: " " };

/** A readable plain-text part from the final HTML: block elements become lines, links show their URL. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(head|style|script|title)[^>]*>[\s\S]*?<\/\1>/gi, "")
    .replace(/<div style="display:none[^>]*>[\s\S]*?<\/div>/i, "")
    .replace(/<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi, (_, href: string, label: string) => {
      const text = label.replace(/<[^>]+>/g, "").trim();
      return text && text !== href ? `${text} (${href})` : href;
    })
    .replace(/<(br|\/p|\/div|\/h[1-6]|\/li|\/tr|\/table)[^>]*>/gi, "\n")
    .replace(/<li[^>]*>/gi, "- ")
    .replace(/<[^>]+>/g, "")
    .replace(/&(amp|lt|gt|quot|#39|nbsp);/g, (_, e: string) => ENTITIES[e]!)
    .replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)))
    .replace(/[ \t]+/g, " ")
    .replace(/ *\n */g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

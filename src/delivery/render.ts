/**
 * Turns a queued message into the email that is sent: Liquid over the
 * template with the contact, event, flow and message (HTML-escaped in the
 * body, control characters stripped from header fields); then HTMLRewriter
 * rewrites each tracked link into a signed `/c/` link (the real URLs are kept
 * in `links`), adds the hidden preheader, the open pixel and, for marketing,
 * the footer with the unsubscribe link and postal address; a plain-text part
 * is derived, in one streaming pass, when the template has none; headers carry RFC 8058 one-click
 * unsubscribe and Resend tags name the flow, step and message.
 */

import type { ContactRow, MessageKind, MessageRow, TemplateRow } from "../db/schema";
import { type Config, shopName } from "../env";
import { signClickToken } from "../tracking/links";
import { signToken } from "../tracking/tokens";
import { htmlLiquid, plainLiquid } from "./liquid";

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
      name: shopName(config),
      url: config.SHOP_URL ?? config.PUBLIC_URL,
      postal_address: config.POSTAL_ADDRESS,
    },
    dashboard_url: `${config.PUBLIC_URL}/admin`,
  };
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
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
  const render = (engine: typeof plainLiquid, source: string | null | undefined) =>
    !source ? Promise.resolve("") : template ? engine.parseAndRender(source, data) : Promise.resolve(source);
  const source = template ?? {
    subject: message.subject ?? "",
    html: message.html ?? "",
    text: message.text,
    from: message.fromEmail,
    replyTo: null,
    preheader: null,
  };
  const [subject, body, text, from, replyTo, preheader] = await Promise.all([
    render(plainLiquid, source.subject),
    render(htmlLiquid, source.html),
    render(plainLiquid, source.text),
    render(plainLiquid, source.from),
    render(plainLiquid, source.replyTo),
    render(plainLiquid, source.preheader),
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
    from: headerValue(from) || config.FROM_EMAIL,
    to: headerValue(message.toEmail),
    replyTo: headerValue(replyTo) || null,
    subject: headerValue(subject),
    html,
    text: text.trim() ? text : await htmlToText(html),
    headers,
    tags: resendTags(message),
    links,
  };
}

/**
 * A field that becomes a mail header, on one line: CR, LF and every other control or line-separator character
 * (which contact or event data could carry into it, to add headers of its own) become a space, and spaces collapse.
 */
function headerValue(text: string): string {
  return text.replace(/[\s\p{Cc}\p{Zl}\p{Zp}]+/gu, " ").trim();
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

/** Schemes that run code where a client follows them; such a link loses its href (it never worked in mail anyway). */
const SCRIPT_SCHEMES: ReadonlySet<string> = new Set(["javascript", "vbscript", "data"]);

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
        // The rewriter hands attributes over as written; the URL a reader's client follows has its entities decoded.
        const href = decodeEntities(a.getAttribute("href") ?? "").trim();
        // As a browser's URL parser does: leading controls and spaces, and tabs and line breaks anywhere, do not count.
        const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(href.replace(/[\t\n\r]/g, "").replace(/^[\p{Cc} ]+/u, ""))?.[1]?.toLowerCase();
        if (scheme && SCRIPT_SCHEMES.has(scheme)) a.removeAttribute("href");
        if (a.hasAttribute("data-nurture-notrack")) {
          a.removeAttribute("data-nurture-notrack");
          return;
        }
        if (!d.tracked || (scheme !== "http" && scheme !== "https") || href.startsWith(unsubscribePrefix)) return;
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

/** The named character references templates and editors write; others are left as written. */
const NAMED_ENTITIES: ReadonlyMap<string, string> = new Map([
  ["amp", "&"],
  ["lt", "<"],
  ["gt", ">"],
  ["quot", '"'],
  ["apos", "'"],
  ["nbsp", " "],
  ["shy", ""],
  ["copy", "©"],
  ["reg", "®"],
  ["trade", "™"],
  ["euro", "€"],
  ["pound", "£"],
  ["hellip", "…"],
  ["mdash", "—"],
  ["ndash", "–"],
  ["lsquo", "‘"],
  ["rsquo", "’"],
  ["ldquo", "“"],
  ["rdquo", "”"],
  ["laquo", "«"],
  ["raquo", "»"],
  ["middot", "·"],
  ["bull", "•"],
  ["times", "×"],
]);

/** Text with its HTML character references (`&amp;`, `&#39;`, `&#x2019;`, …) decoded, in one pass. */
function decodeEntities(text: string): string {
  return text.replace(
    /&(?:#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6})|([A-Za-z][A-Za-z0-9]{1,31}));/g,
    (whole, dec?: string, hex?: string, name?: string) => {
      if (name !== undefined) return NAMED_ENTITIES.get(name) ?? whole;
      const code = dec !== undefined ? Number(dec) : Number.parseInt(hex!, 16);
      const valid = code > 0 && code <= 0x10ffff && (code < 0xd800 || code > 0xdfff);
      return valid ? String.fromCodePoint(code) : whole;
    },
  );
}

/** Elements whose end starts a new line in the text part. */
const LINE_ENDS: ReadonlySet<string> = new Set(["p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "table"]);
/** Table cells, kept apart by a space. */
const CELLS: ReadonlySet<string> = new Set(["td", "th"]);
/** Elements whose text is never shown. */
const UNSHOWN: ReadonlySet<string> = new Set(["style", "script", "title", "template"]);
/** Every element the text part treats specially; only these cost a call into JavaScript. */
const TEXT_SHAPING = [...LINE_ENDS, ...CELLS, ...UNSHOWN, "br", "a", "[style]"].join(", ");

/**
 * A readable plain-text part from the final HTML: block elements become lines, list items start with "- ", links
 * show "label (url)", entities are decoded, and style, script, title and hidden parts (the preheader) are dropped.
 * One pass of the platform's streaming parser, so its cost is linear in the HTML's size whatever the markup.
 */
export async function htmlToText(html: string): Promise<string> {
  const out: string[] = [];
  let hiddenDepth = 0;
  await new HTMLRewriter()
    .on(TEXT_SHAPING, {
      // One handler for all: an element keeps only the last end-tag handler registered for it.
      element(element) {
        const tag = element.tagName;
        const hidden = UNSHOWN.has(tag) || /display\s*:\s*none/i.test(element.getAttribute("style") ?? "");
        if (hiddenDepth > 0 && !hidden) return;
        if (tag === "br") out.push("\n");
        // A block that follows inline text (a bare link before the footer's div) starts its own line.
        else if (LINE_ENDS.has(tag) && !hidden && !endsLine(out)) out.push("\n");
        if (tag === "li") out.push("- ");
        const href = tag === "a" ? element.getAttribute("href")?.trim() : undefined;
        if (!hidden && href === undefined && !LINE_ENDS.has(tag) && !CELLS.has(tag)) return;
        const start = out.length;
        const ended = atEndTag(element, () => {
          if (hidden) {
            hiddenDepth--;
            return;
          }
          if (href !== undefined) {
            const label = out.splice(start).join("").replace(/\s+/g, " ").trim();
            out.push(label && label !== href ? `${label} (${href})` : href);
          }
          if (LINE_ENDS.has(tag)) out.push("\n");
          else if (CELLS.has(tag)) out.push(" ");
        });
        if (ended && hidden) hiddenDepth++;
      },
    })
    .onDocument({
      text(chunk) {
        // Source line breaks are spaces in HTML; only the elements above make lines.
        if (hiddenDepth === 0) out.push(chunk.text.replace(/\s+/g, " "));
      },
    })
    .transform(new Response(html))
    .arrayBuffer();
  return decodeEntities(out.join(""))
    .replace(/[ \t]+/g, " ")
    .replace(/ ?\n ?/g, "\n")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/** Whether the text so far ends a line (or is empty), looking past runs of spaces. */
function endsLine(out: readonly string[]): boolean {
  for (let i = out.length - 1; i >= 0; i--) {
    const chunk = out[i]!;
    if (/^[ \t]*$/.test(chunk)) continue;
    return chunk.endsWith("\n");
  }
  return true;
}

/** Runs `then` at the element's end tag; false when it has none (a void element, or one self-closed in SVG). */
function atEndTag(element: Element, then: () => void): boolean {
  try {
    element.onEndTag(then);
    return true;
  } catch {
    return false;
  }
}

/**
 * An email as the dashboard shows it: looking at a message must not count as
 * reading it. In the HTML the open pixel is dropped and each tracked `/c/`
 * link points straight at the URL it carries, so neither records anything;
 * every link opens in a new tab, never inside the frame. The text part's
 * tracked links are replaced the same way.
 */
import type { Config } from "../env";
import { readClickToken } from "../tracking/links";

/** The HTML with tracking neutralised and links opening in a new tab. */
export async function untrackedHtml(html: string, config: Config): Promise<string> {
  const clickPrefix = `${config.PUBLIC_URL}/c/`;
  const openPrefix = `${config.PUBLIC_URL}/o/`;
  const rewriter = new HTMLRewriter()
    .on("a[href]", {
      async element(a) {
        const href = a.getAttribute("href") ?? "";
        if (href.startsWith(clickPrefix)) {
          const target = await readClickToken(config.SIGNING_SECRET, href.slice(clickPrefix.length));
          // A token we cannot read leads nowhere rather than to the redirect that would record it.
          a.setAttribute("href", target?.url ?? "#");
        }
        a.setAttribute("target", "_blank");
        a.setAttribute("rel", "noopener noreferrer");
      },
    })
    .on("img[src]", {
      element(img) {
        if (img.getAttribute("src")?.startsWith(openPrefix)) img.remove();
      },
    });
  return rewriter.transform(new Response(html)).text();
}

/** The text part with each tracked `/c/` link replaced by the URL it carries. */
export async function untrackedText(text: string, config: Config): Promise<string> {
  const prefix = `${config.PUBLIC_URL}/c/`;
  const tracked = new RegExp(`${prefix.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}([\\w.-]+)`, "g");
  const targets = new Map<string, string>();
  for (const [, token] of text.matchAll(tracked)) {
    if (token && !targets.has(token)) targets.set(token, (await readClickToken(config.SIGNING_SECRET, token))?.url ?? "#");
  }
  return text.replace(tracked, (_, token: string) => targets.get(token) ?? "#");
}

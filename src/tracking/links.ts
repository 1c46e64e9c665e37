/** Where a tracked link sends the reader: the recorded URL, with UTM tags and the `_nt` identity for the snippet. */

/** The recorded URL with `utm_*` tags added (a link's own tags are kept) and `_nt` set; null when it is not http(s). */
export function trackedDestination(recorded: string, campaign: string | null, content: string | null, identity: string): string | null {
  let url: URL;
  try {
    url = new URL(recorded);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  const tags: [string, string | null][] = [
    ["utm_source", "nurture"],
    ["utm_medium", "email"],
    ["utm_campaign", campaign],
    ["utm_content", content],
  ];
  for (const [name, value] of tags) if (value && !url.searchParams.has(name)) url.searchParams.set(name, value);
  if (identity) url.searchParams.set("_nt", identity);
  return url.toString();
}

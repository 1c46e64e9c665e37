/** The id an editor proposes for a new flow or segment from its name. */

/** Lower-case words of `name` joined by '-', at most 64 characters (a valid flow or segment id). */
export function slug(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 64) || "flow"
  );
}

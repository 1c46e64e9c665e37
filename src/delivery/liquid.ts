/**
 * The Liquid engines: lenient with data (a contact's missing field renders
 * empty), strict with syntax (a template that does not parse is rejected when
 * it is saved, not when the mail goes out). The HTML body is rendered by an
 * engine that HTML-escapes every output, so contact and event data can never
 * become markup or links; the plain fields (subject, text, from, reply-to,
 * preheader) by one that does not, so "Tom & Jerry" stays that.
 */
import { filters, Liquid } from "liquidjs";
import { moneyFilter } from "./money";

const options = { strictVariables: false, strictFilters: false, cache: 200, ownPropertyOnly: true } as const;

/** The engine for the plain-text fields: output is written as is. */
export const plainLiquid = new Liquid(options);

/** The engine for the HTML body: every output is HTML-escaped unless its last filter is `raw`. */
export const htmlLiquid = new Liquid({ ...options, outputEscape: "escape" });

// These filters already escape; marked raw, a template written with them (as templates were before escaping became
// the default) is escaped once, not twice.
for (const name of ["escape", "escape_once", "xml_escape"]) {
  const handler = filters[name];
  if (typeof handler !== "function") throw new Error(`liquidjs no longer has the ${name} filter`);
  htmlLiquid.registerFilter(name, { handler, raw: true });
}
for (const engine of [plainLiquid, htmlLiquid]) engine.registerFilter("money", moneyFilter);

/** The template fields written in Liquid. */
export const LIQUID_FIELDS = ["subject", "html", "text", "from", "reply_to", "preheader"] as const;
export type LiquidField = (typeof LIQUID_FIELDS)[number];

/** Every field that does not parse, with the parser's message; empty when all parse. */
export function liquidProblems(fields: Partial<Record<LiquidField, string | null | undefined>>): { path: string[]; message: string }[] {
  const problems: { path: string[]; message: string }[] = [];
  for (const field of LIQUID_FIELDS) {
    const source = fields[field];
    if (typeof source !== "string") continue;
    try {
      (field === "html" ? htmlLiquid : plainLiquid).parse(source);
    } catch (error) {
      problems.push({ path: [field], message: error instanceof Error ? error.message.split("\n")[0]! : String(error) });
    }
  }
  return problems;
}

/**
 * The one Liquid engine: lenient with data (a contact's missing field renders
 * empty), strict with syntax (a template that does not parse is rejected when
 * it is saved, not when the mail goes out).
 */
import { Liquid } from "liquidjs";
import { moneyFilter } from "./money";

export const liquid = new Liquid({ strictVariables: false, strictFilters: false, cache: 200, ownPropertyOnly: true });
liquid.registerFilter("money", moneyFilter);

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
      liquid.parse(source);
    } catch (error) {
      problems.push({ path: [field], message: error instanceof Error ? error.message.split("\n")[0]! : String(error) });
    }
  }
  return problems;
}

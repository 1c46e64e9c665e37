/**
 * The contact list as CSV (SPEC section 9), both ways: reading an import's records into contact inputs, and writing a
 * contact as the same columns, so that an export re-imports unchanged. Pure: no I/O.
 */
import type { ContactRow } from "../db/schema";
import { type CsvRecord, csvRecord } from "./csv";

/** The columns that are contact fields; every other column is an attribute. */
export const FIELD_COLUMNS = ["email", "first_name", "last_name", "timezone", "lifecycle_stage", "consent", "tags"] as const;
type FieldColumn = (typeof FIELD_COLUMNS)[number];

/** Tags share one cell, separated by this. */
export const TAG_SEPARATOR = ";";

/** One data record of an import as a contact input (not yet validated), with the line it came from. */
export interface ImportedRecord {
  line: number;
  input: Record<string, unknown>;
}

/** An import's header or record that cannot be read, reported against its line. */
export interface RecordError {
  line: number;
  reason: string;
}

const isField = (name: string): name is FieldColumn => (FIELD_COLUMNS as readonly string[]).includes(name);

/**
 * An attribute cell's value: a number, `true`/`false` or a JSON object or array as written by the export; any other
 * text is a string (so `00123` and `+49…` stay text). An empty cell sets nothing.
 */
export function attributeFromCell(cell: string): unknown {
  if (cell === "true" || cell === "false") return cell === "true";
  if (/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(cell) && String(Number(cell)) === cell) return Number(cell);
  if (/^[[{]/.test(cell)) {
    try {
      const parsed: unknown = JSON.parse(cell);
      if (typeof parsed === "object" && parsed !== null) return parsed;
    } catch {
      // Text that only looks like JSON is kept as text.
    }
  }
  return cell;
}

/** An attribute value as its cell: strings as they are, anything else as JSON (read back by attributeFromCell). */
export function attributeToCell(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Turns an import's CSV records (the first is the header) into contact inputs, or errors by line. */
export function recordsToInputs(records: CsvRecord[]): { rows: ImportedRecord[]; errors: RecordError[]; headerError?: string } {
  const [header, ...data] = records;
  if (!header) return { rows: [], errors: [], headerError: "The CSV is empty; its first line must name the columns" };
  const columns = header.fields.map((name) => {
    const trimmed = name.trim();
    return isField(trimmed.toLowerCase()) ? trimmed.toLowerCase() : trimmed;
  });
  if (!columns.includes("email")) return { rows: [], errors: [], headerError: "The header has no email column" };
  const repeated = columns.find((name, i) => name === "" || columns.indexOf(name) !== i);
  if (repeated !== undefined)
    return { rows: [], errors: [], headerError: repeated === "" ? "A column has no name" : `The column ${repeated} appears twice` };

  const rows: ImportedRecord[] = [];
  const errors: RecordError[] = [];
  for (const record of data) {
    if (record.fields.length > columns.length) {
      errors.push({ line: record.line, reason: `The record has ${record.fields.length} fields; the header names ${columns.length}` });
      continue;
    }
    const input: Record<string, unknown> = {};
    const attributes: Record<string, unknown> = {};
    record.fields.forEach((cell, i) => {
      const column = columns[i] as string;
      if (cell === "") return;
      if (column === "tags") input.tags = cell.split(TAG_SEPARATOR).flatMap((t) => (t.trim() ? [t.trim()] : []));
      else if (isField(column)) input[column] = cell;
      else attributes[column] = attributeFromCell(cell);
    });
    if (Object.keys(attributes).length > 0) input.attributes = attributes;
    rows.push({ line: record.line, input });
  }
  return { rows, errors };
}

/** The attribute keys an export can write as columns: one named like a field column would be read back as that field. */
export function exportableAttributeKeys(keys: string[]): string[] {
  return keys.filter((key) => !isField(key.trim().toLowerCase()) && key.trim() === key && key !== "");
}

/** The export's header: the field columns, then one column per attribute key. */
export function exportHeader(attributeKeys: string[]): string {
  return csvRecord([...FIELD_COLUMNS, ...attributeKeys]);
}

/** One contact as an export record under `exportHeader(attributeKeys)`. */
export function exportRecord(contact: ContactRow, attributeKeys: string[]): string {
  return csvRecord([
    contact.email,
    contact.firstName ?? "",
    contact.lastName ?? "",
    contact.timezone ?? "",
    contact.lifecycleStage ?? "",
    contact.consent,
    contact.tags.join(TAG_SEPARATOR),
    ...attributeKeys.map((key) => attributeToCell(contact.attributes[key])),
  ]);
}

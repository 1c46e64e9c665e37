/**
 * CSV as RFC 4180 writes it, for contact import and export: quoted fields may hold commas, quotes (doubled) and line
 * breaks; records end in CRLF, LF or CR; a leading byte-order mark is dropped. No CSV parser that runs in workerd is
 * installed, and this subset is all an import needs; it runs in one pass with no per-character allocation.
 */

/** A CSV text that cannot be read: an opened quote never closed, or text after a closing quote. */
export class CsvSyntaxError extends Error {
  constructor(
    message: string,
    /** The 1-based line (physical, counting breaks inside quotes) where the bad record starts. */
    readonly line: number,
  ) {
    super(message);
  }
}

/** One record of a CSV text and the 1-based line it starts on. */
export interface CsvRecord {
  fields: string[];
  line: number;
}

/** Splits a CSV text into records; blank lines are skipped. Throws CsvSyntaxError on an unbalanced quote. */
export function parseCsv(text: string): CsvRecord[] {
  const source = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let line = 1;
  let recordLine = 1;
  let i = 0;
  const endRecord = () => {
    if (!(fields.length === 1 && fields[0] === "")) records.push({ fields, line: recordLine });
    fields = [];
  };
  while (i <= source.length) {
    if (i === source.length) {
      // A text ending in a line break has no empty last record.
      if (fields.length > 0) endRecord();
      break;
    }
    if (source[i] === '"') {
      let value = "";
      let from = i + 1;
      const startLine = line;
      for (;;) {
        const quote = source.indexOf('"', from);
        if (quote === -1) throw new CsvSyntaxError("A quoted field is never closed", startLine);
        value += source.slice(from, quote);
        line += countBreaks(source, from, quote);
        if (source[quote + 1] === '"') {
          value += '"';
          from = quote + 2;
          continue;
        }
        i = quote + 1;
        break;
      }
      fields.push(value);
      const next = source[i];
      if (next !== undefined && next !== "," && next !== "\n" && next !== "\r") {
        throw new CsvSyntaxError("Text follows a closing quote; a quote inside a quoted field is written twice", line);
      }
    } else {
      let end = i;
      while (end < source.length && source[end] !== "," && source[end] !== "\n" && source[end] !== "\r") end++;
      fields.push(source.slice(i, end));
      i = end;
    }
    const separator = source[i];
    if (separator === ",") {
      i++;
      // A comma ending the text leaves one empty last field (before a line break the loop reads it).
      if (i === source.length) fields.push("");
      continue;
    }
    if (separator === "\r" || separator === "\n") {
      i += separator === "\r" && source[i + 1] === "\n" ? 2 : 1;
      line++;
      endRecord();
      recordLine = line;
    }
  }
  return records;
}

function countBreaks(text: string, from: number, to: number): number {
  let breaks = 0;
  for (let j = from; j < to; j++) {
    const ch = text.charCodeAt(j);
    if (ch === 10 || (ch === 13 && text.charCodeAt(j + 1) !== 10)) breaks++;
  }
  return breaks;
}

/** One CSV field: quoted when it holds a comma, quote, line break or surrounding space. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** One CSV record, CRLF-terminated as RFC 4180 writes it. */
export function csvRecord(values: string[]): string {
  return `${values.map(csvField).join(",")}\r\n`;
}

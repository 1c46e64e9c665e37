import { describe, expect, it } from "vitest";
import { CsvSyntaxError, csvRecord, parseCsv } from "../../src/contact/csv";
import { attributeFromCell, attributeToCell, recordsToInputs } from "../../src/contact/import";

const fields = (text: string) => parseCsv(text).map((r) => r.fields);

describe("parseCsv reads RFC 4180", () => {
  it("splits records on CRLF, LF or CR and fields on commas", () => {
    expect(fields("a,b\r\nc,d\ne,f\rg,h")).toEqual([
      ["a", "b"],
      ["c", "d"],
      ["e", "f"],
      ["g", "h"],
    ]);
  });

  it("keeps commas, doubled quotes and line breaks inside quoted fields, and counts lines across them", () => {
    const records = parseCsv('email,note\r\nada@example.com,"Hello, ""world""\r\nsecond line"\r\nbo@example.com,plain\r\n');
    expect(records).toEqual([
      { fields: ["email", "note"], line: 1 },
      { fields: ["ada@example.com", 'Hello, "world"\r\nsecond line'], line: 2 },
      { fields: ["bo@example.com", "plain"], line: 4 },
    ]);
  });

  it("drops a byte-order mark, skips blank lines and keeps empty and trailing fields", () => {
    expect(fields("\uFEFFemail,a,b\n\nx@example.com,,\n\n")).toEqual([
      ["email", "a", "b"],
      ["x@example.com", "", ""],
    ]);
  });

  it("refuses a quote never closed and text after a closing quote, naming the line", () => {
    expect(() => parseCsv('a\n"open')).toThrow(CsvSyntaxError);
    try {
      parseCsv('a\nb\n"x"y');
    } catch (error) {
      expect((error as CsvSyntaxError).line).toBe(3);
    }
    expect(() => parseCsv('a\nb\n"x"y')).toThrow(/closing quote/);
  });

  it("reads back what csvRecord writes, whatever the text", () => {
    const values = ["plain", "with, comma", 'a "quote"', "two\nlines", " padded ", "", "crlf\r\nend", "ümlaut €"];
    expect(fields(csvRecord(values) + csvRecord(values))).toEqual([values, values]);
  });
});

describe("recordsToInputs maps columns to contact fields and attributes", () => {
  it("maps field columns case-insensitively, splits tags on ';' and turns other columns into attributes", () => {
    const { rows, errors } = recordsToInputs(
      parseCsv("Email,First_Name,tags,plan,Signup Source\nada@example.com,Ada,vip; new ;,pro,fair\n"),
    );
    expect(errors).toEqual([]);
    expect(rows).toEqual([
      {
        line: 2,
        input: { email: "ada@example.com", first_name: "Ada", tags: ["vip", "new"], attributes: { plan: "pro", "Signup Source": "fair" } },
      },
    ]);
  });

  it("sets nothing for an empty cell and reports a record with more fields than the header", () => {
    const { rows, errors } = recordsToInputs(parseCsv("email,first_name,plan\na@example.com,,\nb@example.com,B,x,extra\n"));
    expect(rows).toEqual([{ line: 2, input: { email: "a@example.com" } }]);
    expect(errors).toEqual([{ line: 3, reason: "The record has 4 fields; the header names 3" }]);
  });

  it("refuses a header without an email column, or with a column twice", () => {
    expect(recordsToInputs(parseCsv("name\nAda\n")).headerError).toMatch(/no email column/);
    expect(recordsToInputs(parseCsv("email,plan,plan\n")).headerError).toMatch(/plan appears twice/);
    expect(recordsToInputs([]).headerError).toMatch(/empty/);
  });

  it("reads numbers, booleans and JSON as the export writes them, and keeps look-alike text as text", () => {
    for (const value of [42, -1.5, true, false, { a: [1, "x"] }, [1, 2], "00123", "+49 30 1234", "1e", "[not json", "text"]) {
      expect(attributeFromCell(attributeToCell(value))).toEqual(value);
    }
  });
});

/**
 * The CSV importer at /admin/contacts/import: papaparse reads the chosen file in chunks (so a 50,000-row list never
 * sits in memory at once nor freezes the page), the user maps its columns to contact fields or attributes, and the
 * rows go to POST /v1/contacts/batch as JSON, 1,000 a call and a few calls in flight, starting no flow. Records are
 * read into contact inputs by the same `recordsToInputs` the API uses for CSV, so both routes read a file alike.
 */
import Papa from "papaparse";
import { useRef, useState } from "preact/hooks";
import { csvRecord } from "../../../contact/csv";
import { FIELD_COLUMNS, recordsToInputs } from "../../../contact/import";
import { callApi } from "../api";
import { mountIsland } from "../mount";

/** The batch endpoint's limit per call. */
const BATCH_SIZE = 1000;
/** Calls in flight at once: enough to hide the round trip, few enough to leave the Worker to other requests. */
const IN_FLIGHT = 3;
/** Bytes papaparse reads per chunk; the parser pauses while uploads are behind. */
const CHUNK_BYTES = 256 * 1024;
/** Rows shown before importing. */
const PREVIEW_ROWS = 5;

/** Where a column goes: a contact field, an attribute (named by the user), or nowhere. */
type Target = { kind: "field"; field: string } | { kind: "attribute"; name: string } | { kind: "skip" };

/** The fields a column can fill; consent is chosen for the whole list below instead. */
const MAPPABLE_FIELDS = FIELD_COLUMNS.filter((f) => f !== "consent");

/** The consent every imported contact gets; "" leaves it as stored (new contacts get `none`). */
const CONSENT_CHOICES = [
  ["", "Leave as it is (new contacts: none, transactional mail only)"],
  ["subscribed", "Subscribed: they opted in elsewhere (no welcome email is sent)"],
  ["unsubscribed", "Unsubscribed"],
  ["none", "None: transactional mail only"],
] as const;

interface BatchAnswer {
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
  errors: { row: number; email?: string; reason: string }[];
}

/** A row that was not imported, by its record number with the header as 1 (its line, unless a quoted field above holds a line break). */
interface FailedRow {
  line: number;
  email: string;
  reason: string;
}

interface Counts {
  created: number;
  updated: number;
  unchanged: number;
  failed: number;
}

function guessTarget(header: string): Target {
  const name = header.trim();
  const lower = name.toLowerCase().replace(/[\s-]+/g, "_");
  const aliases: Record<string, string> = { e_mail: "email", email_address: "email", firstname: "first_name", lastname: "last_name" };
  const field = aliases[lower] ?? lower;
  if ((MAPPABLE_FIELDS as readonly string[]).includes(field)) return { kind: "field", field };
  return name ? { kind: "attribute", name } : { kind: "skip" };
}

function targetKey(t: Target): string {
  return t.kind === "field" ? `field:${t.field}` : t.kind;
}

/** The mapping's problems: no email column, a field or attribute named twice. */
function mappingProblem(targets: Target[]): string | null {
  const names = targets.flatMap((t) => (t.kind === "field" ? [t.field] : t.kind === "attribute" ? [t.name.trim()] : []));
  if (!names.includes("email")) return "Map one column to email.";
  if (names.includes("")) return "Give every attribute column a name.";
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  return twice ? `${twice} is mapped twice.` : null;
}

function failedRowsCsv(rows: FailedRow[]): string {
  return [csvRecord(["line", "email", "reason"]), ...rows.map((r) => csvRecord([String(r.line), r.email, r.reason]))].join("");
}

function Importer() {
  const [file, setFile] = useState<File | null>(null);
  const [header, setHeader] = useState<string[]>([]);
  const [preview, setPreview] = useState<string[][]>([]);
  const [targets, setTargets] = useState<Target[]>([]);
  const [consent, setConsent] = useState("");
  const [extraTags, setExtraTags] = useState("");
  const [phase, setPhase] = useState<"pick" | "map" | "uploading" | "done">("pick");
  const [problem, setProblem] = useState<string | null>(null);
  const [progress, setProgress] = useState(0);
  const [rowsSent, setRowsSent] = useState(0);
  const [counts, setCounts] = useState<Counts>({ created: 0, updated: 0, unchanged: 0, failed: 0 });
  const [failed, setFailed] = useState<FailedRow[]>([]);
  const [cancelled, setCancelled] = useState(false);
  const [downloadUrl, setDownloadUrl] = useState<string | null>(null);
  const cancelRef = useRef<() => void>(() => {});

  function pick(chosen: File | undefined) {
    setProblem(null);
    if (!chosen) return;
    Papa.parse<string[]>(chosen, {
      preview: PREVIEW_ROWS + 1,
      skipEmptyLines: "greedy",
      complete(results) {
        const [first, ...rows] = results.data;
        if (!first || first.length === 0) {
          setProblem("The file is empty; its first line must name the columns.");
          return;
        }
        const names = first.map((h, i) => (i === 0 ? h.replace(/^\uFEFF/, "") : h));
        setFile(chosen);
        setHeader(names);
        setPreview(rows);
        setTargets(names.map(guessTarget));
        setPhase("map");
      },
      error(error) {
        setProblem(`The file could not be read: ${error.message}`);
      },
    });
  }

  function setTarget(index: number, target: Target) {
    setTargets(targets.map((t, i) => (i === index ? target : t)));
  }

  function start() {
    if (!file) return;
    const mapped = targets.flatMap((t, i) => (t.kind === "skip" ? [] : [{ index: i, name: t.kind === "field" ? t.field : t.name.trim() }]));
    const headerRecord = { line: 1, fields: mapped.map((m) => m.name) };
    const tags = extraTags
      .split(/[,;]/)
      .map((t) => t.trim())
      .filter(Boolean);
    const total: Counts = { created: 0, updated: 0, unchanged: 0, failed: 0 };
    const failures: FailedRow[] = [];
    const waiting: { inputs: Record<string, unknown>[]; lines: number[]; emails: string[]; cursor: number }[] = [];
    let pending: { input: Record<string, unknown>; line: number }[] = [];
    let inFlight = 0;
    let line = 0;
    let parsed = false;
    let paused = false;
    let stopped = false;
    let parser: Papa.Parser | null = null;
    let sent = 0;
    let confirmedBytes = 0;

    const fail = (row: FailedRow) => {
      failures.push(row);
      total.failed++;
    };
    const finishIfDone = () => {
      if (inFlight > 0 || (!stopped && (!parsed || waiting.length > 0 || pending.length > 0))) return;
      failures.sort((a, b) => a.line - b.line);
      setCounts({ ...total });
      setFailed(failures);
      if (!stopped) setProgress(1);
      if (failures.length > 0) setDownloadUrl(URL.createObjectURL(new Blob([failedRowsCsv(failures)], { type: "text/csv" })));
      setPhase("done");
    };
    const cut = (cursor: number) => {
      const batch = pending.splice(0, BATCH_SIZE);
      waiting.push({
        inputs: batch.map((b) => b.input),
        lines: batch.map((b) => b.line),
        emails: batch.map((b) => String(b.input.email ?? "")),
        cursor,
      });
    };
    const pump = () => {
      while (!stopped && inFlight < IN_FLIGHT && waiting.length > 0) {
        const batch = waiting.shift() as (typeof waiting)[number];
        inFlight++;
        void callApi<BatchAnswer>("POST", "/v1/contacts/batch", batch.inputs).then((answer) => {
          inFlight--;
          if (answer.ok) {
            total.created += answer.body.created;
            total.updated += answer.body.updated;
            total.unchanged += answer.body.unchanged;
            for (const e of answer.body.errors)
              fail({ line: batch.lines[e.row] ?? 0, email: e.email ?? batch.emails[e.row] ?? "", reason: e.reason });
          } else {
            const reason = `The server refused the batch: ${answer.problem.message}`;
            for (const [i, l] of batch.lines.entries()) fail({ line: l, email: batch.emails[i] ?? "", reason });
          }
          sent += batch.inputs.length;
          confirmedBytes = Math.max(confirmedBytes, batch.cursor);
          setRowsSent(sent);
          setCounts({ ...total });
          setProgress(confirmedBytes / Math.max(1, file.size));
          pump();
          finishIfDone();
        });
      }
      // Backpressure: read on only when the uploads have caught up, so memory holds a few batches at most.
      if (parser && !stopped) {
        if (waiting.length > 0 && !paused) {
          paused = true;
          parser.pause();
        } else if (waiting.length === 0 && paused) {
          paused = false;
          parser.resume();
        }
      }
    };

    cancelRef.current = () => {
      stopped = true;
      setCancelled(true);
      parser?.abort();
      finishIfDone();
    };
    setPhase("uploading");
    setCancelled(false);
    setProgress(0);
    setRowsSent(0);
    setDownloadUrl(null);

    Papa.parse<string[]>(file, {
      skipEmptyLines: "greedy",
      chunkSize: CHUNK_BYTES,
      chunk(results, chunkParser) {
        parser = chunkParser;
        const records = [];
        for (const fields of results.data) {
          line++;
          if (line === 1) continue; // the header, mapped above
          if (fields.length > header.length) {
            fail({ line, email: "", reason: `The row has ${fields.length} fields; the header names ${header.length}` });
            continue;
          }
          records.push({ line, fields: mapped.map((m) => fields[m.index] ?? "") });
        }
        const { rows } = recordsToInputs([headerRecord, ...records]);
        for (const row of rows) {
          if (consent) row.input.consent = consent;
          if (tags.length > 0) row.input.tags = [...new Set([...((row.input.tags as string[] | undefined) ?? []), ...tags])];
          pending.push(row);
        }
        while (pending.length >= BATCH_SIZE) cut(results.meta.cursor);
        pump();
      },
      complete() {
        parsed = true;
        if (stopped) return;
        if (pending.length > 0) cut(file.size);
        pending = [];
        pump();
        finishIfDone();
      },
      error(error) {
        parsed = true;
        setProblem(`The file could not be read: ${error.message}`);
        finishIfDone();
      },
    });
  }

  if (phase === "pick") {
    return (
      <section class="importer">
        <label>
          CSV file{" "}
          <input
            type="file"
            accept=".csv,text/csv"
            data-testid="import-file"
            onChange={(e) => pick((e.currentTarget as HTMLInputElement).files?.[0])}
          />
        </label>
        {problem && <p class="error">{problem}</p>}
      </section>
    );
  }

  const mappingError = mappingProblem(targets);
  return (
    <section class="importer">
      <p>
        <b>{file?.name}</b> <span class="muted">({((file?.size ?? 0) / 1024).toFixed(0)} KB)</span>
      </p>
      <table id="import-mapping">
        <thead>
          <tr>
            {header.map((h) => (
              <th>{h}</th>
            ))}
          </tr>
          <tr>
            {targets.map((t, i) => (
              <th>
                <select
                  aria-label={`Column ${header[i]}`}
                  disabled={phase !== "map"}
                  value={targetKey(t)}
                  onChange={(e) => {
                    const value = (e.currentTarget as HTMLSelectElement).value;
                    if (value === "skip") setTarget(i, { kind: "skip" });
                    else if (value === "attribute") setTarget(i, { kind: "attribute", name: (header[i] ?? "").trim() });
                    else setTarget(i, { kind: "field", field: value.slice("field:".length) });
                  }}
                >
                  {MAPPABLE_FIELDS.map((f) => (
                    <option value={`field:${f}`}>{f}</option>
                  ))}
                  <option value="attribute">attribute…</option>
                  <option value="skip">skip</option>
                </select>
                {t.kind === "attribute" && (
                  <input
                    type="text"
                    aria-label={`Attribute name for ${header[i]}`}
                    disabled={phase !== "map"}
                    value={t.name}
                    onInput={(e) => setTarget(i, { kind: "attribute", name: (e.currentTarget as HTMLInputElement).value })}
                  />
                )}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {preview.map((row) => (
            <tr>
              {header.map((_, i) => (
                <td>{row[i] ?? ""}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <p class="muted">The first {preview.length} rows. Tags in a tags column are separated by ";".</p>
      <div class="editor">
        <label>
          Consent of the imported contacts
          <select value={consent} disabled={phase !== "map"} onChange={(e) => setConsent((e.currentTarget as HTMLSelectElement).value)}>
            {CONSENT_CHOICES.map(([value, label]) => (
              <option value={value}>{label}</option>
            ))}
          </select>
        </label>
        <label>
          Tags to add to everyone (comma-separated)
          <input
            type="text"
            name="tags"
            value={extraTags}
            disabled={phase !== "map"}
            onInput={(e) => setExtraTags((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
      </div>
      {phase === "map" && (
        <p>
          <button type="button" class="primary" disabled={mappingError !== null} onClick={start}>
            Import
          </button>{" "}
          <button type="button" onClick={() => setPhase("pick")}>
            Choose another file
          </button>{" "}
          {mappingError && <span class="error">{mappingError}</span>}
        </p>
      )}
      {phase !== "map" && (
        <div role="status">
          <progress id="import-progress" max={1} value={progress} />{" "}
          <span data-testid="import-sent">{rowsSent.toLocaleString("en-US")} rows sent</span>
          {phase === "uploading" && (
            <button type="button" onClick={() => cancelRef.current()}>
              Cancel
            </button>
          )}
          <p data-testid="import-counts">
            Created <b>{counts.created}</b> · updated <b>{counts.updated}</b> · unchanged <b>{counts.unchanged}</b> · failed{" "}
            <b>{counts.failed}</b>
          </p>
        </div>
      )}
      {problem && <p class="error">{problem}</p>}
      {phase === "done" && (
        <div data-testid="import-done">
          <p>
            {cancelled ? "Import cancelled; the rows sent before are saved." : "Import finished."}{" "}
            <a href="/admin/contacts">See the contacts</a>
          </p>
          {failed.length > 0 && (
            <>
              <h2>Rows not imported</h2>
              {downloadUrl && (
                <p>
                  <a href={downloadUrl} download="failed-rows.csv">
                    Download the failed rows (CSV)
                  </a>
                </p>
              )}
              <table id="import-failures">
                <thead>
                  <tr>
                    <th class="n">Line</th>
                    <th>Email</th>
                    <th>Reason</th>
                  </tr>
                </thead>
                <tbody>
                  {failed.slice(0, 100).map((f) => (
                    <tr>
                      <td class="n">{f.line}</td>
                      <td>{f.email}</td>
                      <td>{f.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {failed.length > 100 && <p class="muted">The first 100 of {failed.length}; the CSV holds all.</p>}
            </>
          )}
        </div>
      )}
    </section>
  );
}

mountIsland("importer", Importer);

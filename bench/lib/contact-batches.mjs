// Shared by the benchmarks: generated contacts as the bodies of POST /v1/contacts/batch (1,000 rows each, CSV or
// JSON, built before any clock starts so that the client never holds the Worker back), and a driver that posts
// them with a few calls in flight, as the dashboard's importer does.

/** Rows per call: the route's maximum, as the dashboard's importer sends. */
export const ROWS_PER_BATCH = 1000;

const CSV_HEADER = "email,first_name,last_name,timezone,consent,tags,plan,city\n";

/** The generated contact `i` of a run: the same fields in either format. */
function contact(prefix, i, consent) {
  return {
    email: `${prefix}${i}@example.com`,
    first_name: `First${i}`,
    last_name: `Last${i}`,
    timezone: "Europe/Berlin",
    consent,
    tags: ["imported", "bench"],
    attributes: { plan: i % 3 === 0 ? "pro" : "free", city: `City${i % 50}` },
  };
}

/**
 * Request bodies for contacts `from` to `to` (exclusive) of `prefix`, `ROWS_PER_BATCH` a body, as `format` ("csv" or
 * "json"); each is `{ contentType, body }`.
 */
export function contactBatches({ prefix, from = 0, to, format, consent = "none" }) {
  const batches = [];
  for (let start = from; start < to; start += ROWS_PER_BATCH) {
    const rows = [];
    for (let i = start; i < Math.min(start + ROWS_PER_BATCH, to); i++) rows.push(contact(prefix, i, consent));
    batches.push(
      format === "csv"
        ? {
            contentType: "text/csv",
            body:
              CSV_HEADER +
              rows
                .map((c) =>
                  [c.email, c.first_name, c.last_name, c.timezone, c.consent, c.tags.join(";"), c.attributes.plan, c.attributes.city].join(
                    ",",
                  ),
                )
                .join("\n"),
          }
        : { contentType: "application/json", body: JSON.stringify(rows) },
    );
  }
  return batches;
}

/**
 * Posts `batches` to `pathname` (the batch route, or a baseline) with `inFlight` calls at once. Returns the summed
 * counts of the answers (created, updated, unchanged, failed; zero for a baseline's), the milliseconds each call
 * took, and the wall time. `expectOk` false accepts any answer (a baseline route that refuses the body).
 */
export async function postBatches(worker, batches, { pathname = "/v1/contacts/batch", inFlight = 4, expectOk = true } = {}) {
  const counts = { created: 0, updated: 0, unchanged: 0, failed: 0 };
  const callMs = [];
  let next = 0;
  async function lane() {
    while (next < batches.length) {
      const { contentType, body } = batches[next++];
      const started = performance.now();
      const res = await fetch(`${worker.url}${pathname}`, {
        method: "POST",
        headers: { authorization: `Bearer ${worker.adminKey}`, "content-type": contentType },
        body,
      });
      const text = await res.text();
      callMs.push(performance.now() - started);
      if (!expectOk) continue;
      if (!res.ok) throw new Error(`POST ${pathname} → ${res.status} ${text.slice(0, 500)}`);
      const answer = JSON.parse(text);
      for (const key of Object.keys(counts)) counts[key] += answer[key];
    }
  }
  const started = performance.now();
  await Promise.all(Array.from({ length: inFlight }, lane));
  return { counts, callMs, seconds: (performance.now() - started) / 1000 };
}

/** The `p`th percentile (0–100) of `values`. */
export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

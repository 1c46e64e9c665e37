/**
 * The broadcast pages of the dashboard: the list, the compose form (template
 * with preview, audience with its count, schedule, A/B test, smart sending,
 * test send), the confirmation with the final count, and the report with the
 * flow page's cards, funnel and numbers table. Pure components of what the
 * routes load; every form posts with the session's CSRF token.
 */
import type { Child } from "hono/jsx";
import { sampleSize } from "../broadcasts/plan";
import type { BroadcastAudience, BroadcastInput } from "../broadcasts/schema";
import type { BroadcastRow } from "../db/schema";
import type { RenderedEmail } from "../delivery/render";
import type { BroadcastStats } from "../reports/broadcasts";
import { WINNER_METRICS } from "../reports/definition";
import type { Measured } from "../reports/stats";
import { type BroadcastFormValues, type FieldProblems, FORM_VARIANTS } from "./broadcast-form";
import { Funnel } from "./charts";
import { formatCount, formatMoney, formatRate, formatTime } from "./format";
import { Layout } from "./layout";
import { RenderedView } from "./mail-pages";
import { Card, NumbersHead, NumbersRow } from "./pages";

const SECTION = "/admin/broadcasts";
const path = (id: string) => `/admin/broadcasts/${encodeURIComponent(id)}`;

/** Who a broadcast goes to, in words. */
export function audienceLabel(audience: BroadcastAudience, segmentNames: ReadonlyMap<string, string>): string {
  if ("all" in audience && audience.all === true) return "All subscribed contacts";
  if ("segment" in audience && typeof audience.segment === "string")
    return `Segment ${segmentNames.get(audience.segment) ?? audience.segment} (${audience.segment})`;
  return "Contacts matching a condition";
}

/** When a broadcast goes out, in words. */
function scheduleLabel(input: BroadcastInput, row?: BroadcastRow): string {
  const at = input.send_at ? `at ${formatTime(Date.parse(input.send_at))}` : row?.startedAt ? `at ${formatTime(row.startedAt)}` : "now";
  const local = input.local_time ? `, then at ${input.local_time} in each contact's time zone (default ${input.timezone ?? "UTC"})` : "";
  return `${at}${local}`;
}

function Hidden(props: { csrf: string }) {
  return <input type="hidden" name="_csrf" value={props.csrf} />;
}

function Problems(props: { field: string; problems: FieldProblems }) {
  const list = props.problems[props.field];
  if (!list?.length) return null;
  return (
    <span class="error" data-problem={props.field}>
      {list.join(" · ")}
    </span>
  );
}

function Field(props: { label: string; field: string; problems: FieldProblems; hint?: string; children: Child }) {
  return (
    <label for={`f-${props.field}`}>
      {props.label} {props.children}
      {props.hint ? <small class="muted">{props.hint}</small> : null}
      <Problems field={props.field} problems={props.problems} />
    </label>
  );
}

/** Every broadcast with its status, audience and numbers. */
export function BroadcastsPage(props: {
  rows: { row: BroadcastRow; audience: string; totals: Measured }[];
  csrf: string;
  currency: string;
}) {
  return (
    <Layout title="Broadcasts" section={SECTION} csrf={props.csrf}>
      <h1>Broadcasts</h1>
      <p>
        <a href="/admin/broadcasts/new">New broadcast</a>
      </p>
      {props.rows.length === 0 ? (
        <p class="muted">No broadcasts yet: one-off emails to a segment or to everyone subscribed.</p>
      ) : (
        <table id="broadcasts">
          <thead>
            <tr>
              <th>Broadcast</th>
              <th>Status</th>
              <th>Audience</th>
              <th>When</th>
              <th class="n">Sent</th>
              <th class="n">Open rate</th>
              <th class="n">Click rate</th>
              <th class="n">Revenue</th>
            </tr>
          </thead>
          <tbody>
            {props.rows.map(({ row, audience, totals }) => (
              <tr data-broadcast={row.id}>
                <td>
                  <a href={path(row.id)}>{row.name}</a> <span class="muted">{row.id}</span>
                </td>
                <td>
                  <span class={`badge ${row.status}`}>{row.status}</span>
                </td>
                <td>{audience}</td>
                <td>{row.startedAt ? formatTime(row.startedAt) : row.sendAt ? formatTime(row.sendAt) : "—"}</td>
                <td class="n">{formatCount(totals.sent)}</td>
                <td class="n">{formatRate(totals.rates.open_rate)}</td>
                <td class="n">{formatRate(totals.rates.click_rate)}</td>
                <td class="n">{formatMoney(totals.revenue, props.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

/** The compose form of a new or draft broadcast, with the audience's count and the chosen template's preview. */
export function BroadcastComposePage(props: {
  values: BroadcastFormValues;
  problems: FieldProblems;
  isNew: boolean;
  templates: { id: string; subject: string }[];
  segments: { id: string; name: string }[];
  count: number | null;
  preview: { email: RenderedEmail | null; problem: string | null } | null;
  notice: string | null;
  csrf: string;
}) {
  const v = props.values;
  const p = props.problems;
  const title = props.isNew ? "New broadcast" : `Broadcast ${v.name || v.id}`;
  return (
    <Layout title={title} section={SECTION} csrf={props.csrf}>
      <h1>{title}</h1>
      {props.notice ? (
        <p class="notice" id="notice">
          {props.notice}
        </p>
      ) : null}
      <Problems field="form" problems={p} />
      <div class="split">
        <form class="editor compose" method="post" action="/admin/broadcasts" id="compose">
          <Hidden csrf={props.csrf} />
          <input type="hidden" name="new" value={props.isNew ? "1" : ""} />
          {props.isNew ? (
            <Field label="Id" field="id" problems={p} hint="Letters, digits, '-' or '_'; it names the broadcast in the API">
              <input type="text" name="id" id="f-id" value={v.id} required />
            </Field>
          ) : (
            <input type="hidden" name="id" value={v.id} />
          )}
          <Field label="Name" field="name" problems={p}>
            <input type="text" name="name" id="f-name" value={v.name} required />
          </Field>
          <Field label="Template" field="template" problems={p}>
            <select name="template" id="f-template">
              <option value="">Choose a template</option>
              {props.templates.map((t) => (
                <option value={t.id} selected={t.id === v.template}>
                  {t.id} — {t.subject}
                </option>
              ))}
            </select>
          </Field>
          <button type="submit" name="action" value="preview">
            Preview
          </button>
          <fieldset>
            <legend>Audience</legend>
            <Field label="Send to" field="audience" problems={p}>
              <select name="audience" id="f-audience">
                <option value="all" selected={v.audience === "all"}>
                  All subscribed contacts
                </option>
                {props.segments.map((s) => (
                  <option value={`segment:${s.id}`} selected={v.audience === `segment:${s.id}`}>
                    Segment {s.name} ({s.id})
                  </option>
                ))}
                {v.audience === "condition" || v.audience_condition ? (
                  <option value="condition" selected={v.audience === "condition"}>
                    The condition set through the API
                  </option>
                ) : null}
              </select>
            </Field>
            <input type="hidden" name="audience_condition" value={v.audience_condition} />
            <p id="audience-count">
              {props.count === null ? (
                <span class="muted">Press Count to see who would receive it.</span>
              ) : (
                <>
                  <b data-count={String(props.count)}>{formatCount(props.count)}</b> contacts would receive it now (subscribed, not
                  suppressed)
                </>
              )}{" "}
              <button type="submit" name="action" value="count">
                Count
              </button>
            </p>
          </fieldset>
          <fieldset>
            <legend>Schedule</legend>
            <label class="choice">
              <input type="radio" name="when" value="now" checked={v.when === "now"} /> Send when I confirm
            </label>
            <label class="choice">
              <input type="radio" name="when" value="at" checked={v.when === "at"} /> Send at a time
            </label>
            <Field label="At (UTC)" field="send_at" problems={p}>
              <input type="datetime-local" name="send_at" id="f-send_at" value={v.send_at} />
            </Field>
            <Field
              label="Local time"
              field="local_time"
              problems={p}
              hint="Optional: send at this time in each contact's own time zone, within 24 h of the time above"
            >
              <input type="time" name="local_time" id="f-local_time" value={v.local_time} />
            </Field>
            <Field label="Time zone of contacts without one" field="timezone" problems={p} hint="Default UTC, e.g. Europe/Paris">
              <input type="text" name="timezone" id="f-timezone" value={v.timezone} />
            </Field>
          </fieldset>
          <fieldset>
            <legend>A/B test</legend>
            <label class="choice">
              <input type="checkbox" name="ab" value="on" checked={v.ab} /> Test subjects on a sample first
            </label>
            <Problems field="ab" problems={p} />
            {FORM_VARIANTS.map((name, i) => (
              <Field label={`Subject ${name.toUpperCase()}`} field={`subject_${name}`} problems={p}>
                <input type="text" name={`subject_${name}`} id={`f-subject_${name}`} value={v.subjects[i] ?? ""} />
              </Field>
            ))}
            <Field label="Sample (% of the audience)" field="sample_percent" problems={p}>
              <input type="number" name="sample_percent" id="f-sample_percent" min="1" max="99" value={v.sample_percent} />
            </Field>
            <Field label="Wait before choosing" field="wait" problems={p} hint="e.g. 4h">
              <input type="text" name="wait" id="f-wait" value={v.wait} />
            </Field>
            <Field label="Winner by" field="metric" problems={p}>
              <select name="metric" id="f-metric">
                {WINNER_METRICS.map((m) => (
                  <option value={m} selected={m === v.metric}>
                    {m.replace("_", " ")}
                  </option>
                ))}
              </select>
            </Field>
          </fieldset>
          <fieldset>
            <legend>Smart sending</legend>
            <Field
              label="Skip contacts emailed within"
              field="skip_if_emailed_within"
              problems={p}
              hint="Optional, e.g. 16h: leaves out who got marketing mail that recently"
            >
              <input type="text" name="skip_if_emailed_within" id="f-skip_if_emailed_within" value={v.skip_if_emailed_within} />
            </Field>
          </fieldset>
          <p>
            <button type="submit" name="action" value="save">
              Save draft
            </button>{" "}
            <button class="primary" type="submit" name="action" value="review">
              Review and send…
            </button>
          </p>
          <fieldset>
            <legend>Send a test</legend>
            <Field label="To" field="test_to" problems={p} hint="Each version, marked [Test]; it counts nowhere">
              <input type="email" name="test_to" id="f-test_to" value={v.test_to} />
            </Field>
            <button type="submit" name="action" value="test">
              Send test to me
            </button>
          </fieldset>
        </form>
        <section>
          <h2>Preview</h2>
          {props.preview?.email ? (
            <>
              {v.ab && v.subjects.some((s) => s !== "") ? (
                <p class="muted" id="preview-variants">
                  Subjects tested: {v.subjects.filter((s) => s !== "").join(" · ")}
                </p>
              ) : null}
              <RenderedView email={props.preview.email} frame={`/admin/templates/${encodeURIComponent(v.template)}/render?contact=`} />
            </>
          ) : (
            <p class="muted" id="preview-none">
              {props.preview?.problem ?? "Choose a template to see it rendered for the sample contact."}
            </p>
          )}
        </section>
      </div>
    </Layout>
  );
}

/** The last step before sending: what goes out, when, and to how many, counted now. */
export function BroadcastConfirmPage(props: {
  row: BroadcastRow;
  input: BroadcastInput;
  audience: string;
  count: number;
  problems: string[];
  csrf: string;
}) {
  const { row, input } = props;
  const test = input.ab_test;
  const scheduled = row.sendAt !== null && row.sendAt > Date.now();
  return (
    <Layout title={`Send ${row.name}`} section={SECTION} csrf={props.csrf}>
      <h1>Send “{row.name}”?</h1>
      {props.problems.length > 0 ? (
        <ul class="error" id="problems">
          {props.problems.map((m) => (
            <li>{m}</li>
          ))}
        </ul>
      ) : null}
      <table id="confirm">
        <tbody>
          <tr>
            <th>Template</th>
            <td>{input.template}</td>
          </tr>
          <tr>
            <th>Audience</th>
            <td>{props.audience}</td>
          </tr>
          <tr>
            <th>Receives it now</th>
            <td id="final-count" data-count={String(props.count)}>
              {formatCount(props.count)} contacts (subscribed, not suppressed; checked again as each is sent)
            </td>
          </tr>
          <tr>
            <th>When</th>
            <td>{scheduleLabel(input, row)}</td>
          </tr>
          <tr>
            <th>A/B test</th>
            <td>
              {test
                ? `${test.variants.length} variants to ${test.sample_percent}% (${formatCount(sampleSize(props.count, test.sample_percent))} contacts), the winner by ${test.metric.replace("_", " ")} after ${test.wait} to the rest`
                : "None"}
            </td>
          </tr>
          <tr>
            <th>Smart sending</th>
            <td>{input.skip_if_emailed_within ? `Skips contacts emailed within ${input.skip_if_emailed_within}` : "Off"}</td>
          </tr>
        </tbody>
      </table>
      <p>
        <form class="inline" method="post" action={`${path(row.id)}/send`}>
          <Hidden csrf={props.csrf} />
          <button class="primary" type="submit" id="confirm-send">
            {scheduled ? `Schedule for ${formatCount(props.count)} contacts` : `Send to ${formatCount(props.count)} contacts now`}
          </button>
        </form>{" "}
        <a href={path(row.id)}>Back to editing</a>
      </p>
    </Layout>
  );
}

const WINNER_REASONS: Record<string, string> = {
  significant: "significantly better at 95%",
  higher_rate_not_significant: "the higher rate, though not significantly better",
  tie_first_variant: "a tie: the first variant",
};

const OUTCOMES = [
  ["total", "Audience"],
  ["queued", "Queued"],
  ["held", "Held for the winner"],
  ["sending", "Sending"],
  ["sent", "Sent"],
  ["failed", "Failed"],
  ["suppressed", "Unsubscribed or suppressed"],
  ["skipped_recently_emailed", "Skipped (emailed recently)"],
  ["cancelled", "Cancelled"],
] as const satisfies readonly (readonly [keyof BroadcastStats["outcomes"], string])[];

/** A scheduled, sending, sent or cancelled broadcast: outcomes, the flow page's cards and funnel, the variants and the test. */
export function BroadcastReportPage(props: {
  row: BroadcastRow;
  input: BroadcastInput;
  stats: BroadcastStats;
  audience: string;
  notice: string | null;
  csrf: string;
  currency: string;
}) {
  const { row, stats } = props;
  const t = stats.totals;
  const o = stats.outcomes;
  const running = row.status === "scheduled" || row.status === "sending";
  const ab = stats.ab;
  return (
    <Layout title={row.name} section={SECTION} csrf={props.csrf} refreshSeconds={running ? 10 : undefined}>
      <h1>
        {row.name} <span class="muted">{row.id}</span> <span class={`badge ${row.status}`}>{row.status}</span>{" "}
        {running ? (
          <form class="inline" method="post" action={`${path(row.id)}/cancel`}>
            <Hidden csrf={props.csrf} />
            <button type="submit" id="cancel">
              Cancel sending
            </button>
          </form>
        ) : null}
      </h1>
      {props.notice ? (
        <p class="notice" id="notice">
          {props.notice}
        </p>
      ) : null}
      <p class="muted">
        {props.audience} · template {props.input.template} · {scheduleLabel(props.input, row)}
        {row.finishedAt ? ` · finished ${formatTime(row.finishedAt)}` : ""}
      </p>
      <div class="cards" id="broadcast-totals">
        <Card stat="audience" label="Audience" value={formatCount(o.total)} raw={o.total} />
        <Card stat="sent" label="Emails sent" value={formatCount(t.sent)} raw={t.sent} />
        <Card stat="opened" label={`Opened · ${formatRate(t.rates.open_rate)}`} value={formatCount(t.opened)} raw={t.opened} />
        <Card stat="clicked" label={`Clicked · ${formatRate(t.rates.click_rate)}`} value={formatCount(t.clicked)} raw={t.clicked} />
        <Card
          stat="converted"
          label={`Conversions · ${formatRate(t.rates.conversion_rate)}`}
          value={formatCount(t.converted)}
          raw={t.converted}
        />
        <Card stat="revenue" label="Attributed revenue" value={formatMoney(t.revenue, props.currency)} raw={t.revenue} />
      </div>
      <h2>Messages</h2>
      <table id="outcomes">
        <thead>
          <tr>
            {OUTCOMES.map(([, label]) => (
              <th class="n">{label}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            {OUTCOMES.map(([key]) => (
              <td class="n" data-outcome={key}>
                {formatCount(o[key])}
              </td>
            ))}
          </tr>
        </tbody>
      </table>
      <Funnel
        id="broadcast-funnel"
        stages={[
          { label: "Sent", value: t.sent },
          { label: "Opened", value: t.opened },
          { label: "Clicked", value: t.clicked },
          { label: "Converted", value: t.converted },
        ]}
      />
      <h2>Numbers</h2>
      <table id="variants">
        <thead>
          <NumbersHead first={ab ? "Variant" : "Broadcast"} />
        </thead>
        <tbody>
          {stats.variants.map((v) => (
            <NumbersRow
              label={`${v.variant.toUpperCase()}: ${v.subject ?? "(template's subject)"} · ${v.template}`}
              m={v}
              testId={v.variant}
              currency={props.currency}
            />
          ))}
          <NumbersRow label="All" m={t} testId="total" currency={props.currency} />
        </tbody>
      </table>
      {ab ? (
        <section class="ab" id="ab-result">
          <h2>A/B test</h2>
          <p>
            {ab.sample_percent}% sample, {ab.wait} wait, on {ab.metric.replace("_", " ")}:{" "}
            {ab.winner
              ? `winner ${ab.winner.variant.toUpperCase()}, ${WINNER_REASONS[ab.winner.reason] ?? ab.winner.reason} (decided ${ab.winner.decided_at.slice(0, 16).replace("T", " ")} UTC${ab.winner.p_value === null ? "" : `, p = ${ab.winner.p_value.toFixed(4)}`})`
              : ab.leader
                ? `${ab.leader.toUpperCase()} leads so far, p = ${ab.p_value?.toFixed(4) ?? "—"} (${ab.significant ? "significant at 95%" : "not significant yet"})`
                : "no leader yet"}
          </p>
        </section>
      ) : null}
    </Layout>
  );
}

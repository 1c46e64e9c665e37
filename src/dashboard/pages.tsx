/** The dashboard's pages as pure components of the data the routes load. */
import type { Child } from "hono/jsx";
import type { DeadLetter } from "../db/dead-letters";
import type { FlowPerformance, FlowStats, Measured, Overview } from "../reports/stats";
import { BarChart, FlowDiagram, Funnel, LineChart } from "./charts";
import { stepPath } from "./flow-page-lifecycle";
import { formatCount, formatMoney, formatRate } from "./format";
import { HealthSection } from "./health-card";
import { Bare, Layout } from "./layout";
import type { WhyCount } from "./why";

/** The login form. */
export function LoginPage(props: { error?: string }) {
  return (
    <Bare title="Log in">
      <form class="login" method="post" action="/admin/login">
        <h1>Nurture</h1>
        <label for="key">Admin API key</label>
        <input id="key" name="key" type="password" autocomplete="current-password" required autofocus />
        {props.error && <p class="error">{props.error}</p>}
        <button class="primary" type="submit">
          Log in
        </button>
      </form>
    </Bare>
  );
}

function RangeForm(props: { action: string; range: { from: string; to: string } }) {
  return (
    <form class="range" method="get" action={props.action}>
      <label>
        From <input type="date" name="from" value={props.range.from} />
      </label>
      <label>
        To <input type="date" name="to" value={props.range.to} />
      </label>
      <button type="submit">Show</button>
    </form>
  );
}

/** A headline number. */
export function Card(props: { stat: string; label: string; value: string; raw: number | null }) {
  return (
    <div class="card" data-stat={props.stat} data-value={props.raw === null ? "" : String(props.raw)}>
      <b>{props.value}</b>
      <span>{props.label}</span>
    </div>
  );
}

function StatusForm(props: { flowId: string; status: string; csrf: string; back: string }) {
  const next = props.status === "active" ? "paused" : "active";
  return (
    <form class="inline" method="post" action={`/admin/flows/${encodeURIComponent(props.flowId)}/status`}>
      <input type="hidden" name="_csrf" value={props.csrf} />
      <input type="hidden" name="status" value={next} />
      <input type="hidden" name="back" value={props.back} />
      <button type="submit">{next === "active" ? "Activate" : "Pause"}</button>
    </form>
  );
}

function FlowsTable(props: { flows: FlowPerformance[]; csrf: string; back: string; currency: string }) {
  if (props.flows.length === 0)
    return (
      <p class="muted">
        No flows yet. <a href="/admin/library">Install one from the library</a>.
      </p>
    );
  // Two flows with the same name are told apart by their ids.
  const names = props.flows.map((f) => f.name);
  const repeated = new Set(names.filter((n, i) => names.indexOf(n) !== i));
  return (
    <table id="flows">
      <thead>
        <tr>
          <th>Flow</th>
          <th>Status</th>
          <th class="n">Entered</th>
          <th class="n">Sent</th>
          <th class="n">Open rate</th>
          <th class="n">Click rate</th>
          <th class="n">Conversions</th>
          <th class="n">Revenue</th>
          <th class="n">Per recipient</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.flows.map((f) => (
          <tr data-flow={f.id}>
            <td>
              <a href={`/admin/flows/${encodeURIComponent(f.id)}`}>{f.name}</a>
              {repeated.has(f.name) && <span class="muted flow-id">{` (${f.id})`}</span>}
            </td>
            <td>
              <span class={`badge ${f.status}`}>{f.status}</span>
            </td>
            <td class="n">{formatCount(f.entered)}</td>
            <td class="n">{formatCount(f.sent)}</td>
            <td class="n">{formatRate(f.rates.open_rate)}</td>
            <td class="n">{formatRate(f.rates.click_rate)}</td>
            <td class="n">{formatCount(f.converted)}</td>
            <td class="n">{formatMoney(f.revenue, props.currency)}</td>
            <td class="n">{f.rates.revenue_per_recipient === null ? "—" : formatMoney(f.rates.revenue_per_recipient, props.currency)}</td>
            <td>
              <StatusForm flowId={f.id} status={f.status} csrf={props.csrf} back={props.back} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function TrendCharts(props: { daily: Overview["daily"]; prefix: string; currency: string }) {
  const labels = props.daily.map((d) => d.day);
  return (
    <>
      <LineChart
        id={`${props.prefix}-engagement`}
        title="Sends, opens and clicks per day"
        labels={labels}
        series={[
          { name: "sent", color: "#2563eb", values: props.daily.map((d) => d.sent) },
          { name: "opened", color: "#16a34a", values: props.daily.map((d) => d.opened) },
          { name: "clicked", color: "#ea580c", values: props.daily.map((d) => d.clicked) },
        ]}
      />
      <BarChart
        id={`${props.prefix}-revenue`}
        title="Attributed revenue per day"
        labels={labels}
        values={props.daily.map((d) => d.revenue)}
        color="#7c3aed"
        currency={props.currency}
      />
    </>
  );
}

/** The overview: headline numbers, trends, the flows and the Health section. */
export function OverviewPage(props: {
  overview: Overview;
  csrf: string;
  currency: string;
  deadLetters: { count: number; newest: DeadLetter[] };
  healthNotice?: string;
}) {
  const { totals, roi, cost, range } = props.overview;
  return (
    <Layout title="Overview" section="/admin" csrf={props.csrf}>
      <h1>Overview</h1>
      <RangeForm action="/admin" range={range} />
      <div class="cards" id="totals">
        <Card stat="sent" label="Emails sent" value={formatCount(totals.sent)} raw={totals.sent} />
        <Card
          stat="opened"
          label={`Opened · ${formatRate(totals.rates.open_rate)}`}
          value={formatCount(totals.opened)}
          raw={totals.opened}
        />
        <Card
          stat="clicked"
          label={`Clicked · ${formatRate(totals.rates.click_rate)}`}
          value={formatCount(totals.clicked)}
          raw={totals.clicked}
        />
        <Card
          stat="converted"
          label={`Conversions · ${formatRate(totals.rates.conversion_rate)}`}
          value={formatCount(totals.converted)}
          raw={totals.converted}
        />
        <Card stat="revenue" label="Attributed revenue" value={formatMoney(totals.revenue, props.currency)} raw={totals.revenue} />
        <Card
          stat="roi"
          label={`ROI · cost ${formatMoney(cost, props.currency)}`}
          value={roi === null ? "—" : `${(roi * 100).toFixed(0)}%`}
          raw={roi}
        />
      </div>
      <TrendCharts daily={props.overview.daily} prefix="overview" currency={props.currency} />
      <h2>Flows</h2>
      <FlowsTable flows={props.overview.flows} csrf={props.csrf} back="/admin" currency={props.currency} />
      <HealthSection deadLetters={props.deadLetters} csrf={props.csrf} notice={props.healthNotice} />
    </Layout>
  );
}

/** Every flow with its rates and an activate/pause button. */
export function FlowsPage(props: { overview: Overview; csrf: string; currency: string }) {
  return (
    <Layout title="Flows" section="/admin/flows" csrf={props.csrf}>
      <h1>
        Flows <a href="/admin/flows/new">New flow</a>
      </h1>
      <RangeForm action="/admin/flows" range={props.overview.range} />
      <FlowsTable flows={props.overview.flows} csrf={props.csrf} back="/admin/flows" currency={props.currency} />
    </Layout>
  );
}

/** One row of sent/opened/clicked/… counters, as the flow page and the broadcast report show them. */
export function NumbersRow(props: { label: string; m: Measured; currency: string; testId?: string }) {
  const m = props.m;
  return (
    <tr data-row={props.testId}>
      <td>{props.label}</td>
      <td class="n">{formatCount(m.sent)}</td>
      <td class="n">{formatCount(m.opened)}</td>
      <td class="n">{formatRate(m.rates.open_rate)}</td>
      <td class="n">{formatCount(m.clicked)}</td>
      <td class="n">{formatRate(m.rates.click_rate)}</td>
      <td class="n">{formatCount(m.converted)}</td>
      <td class="n">{formatMoney(m.revenue, props.currency)}</td>
      <td class="n">{formatCount(m.unsubscribed)}</td>
      <td class="n">{formatCount(m.bounced)}</td>
      <td class="n">{formatCount(m.machine_opened + m.machine_clicked)}</td>
    </tr>
  );
}

/** The head of a NumbersRow table; `first` names what each row is. */
export const NumbersHead = (props: { first: string }) => (
  <tr>
    <th>{props.first}</th>
    <th class="n">Sent</th>
    <th class="n">Opened</th>
    <th class="n">Open rate</th>
    <th class="n">Clicked</th>
    <th class="n">Click rate</th>
    <th class="n">Conversions</th>
    <th class="n">Revenue</th>
    <th class="n">Unsubscribed</th>
    <th class="n">Bounced</th>
    <th class="n">Machine</th>
  </tr>
);

/** One flow: its diagram with numbers (each step linking to its page), funnel, steps, A/B results and trend; `children` is its lifecycle section. */
export function FlowPage(props: {
  stats: FlowStats;
  why: WhyCount[];
  running: ReadonlyMap<string, number>;
  csrf: string;
  currency: string;
  children?: Child;
}) {
  const { flow, totals, steps, range } = props.stats;
  const path = `/admin/flows/${encodeURIComponent(flow.id)}`;
  const abSteps = steps.filter((s) => s.ab);
  return (
    <Layout title={flow.name} section="/admin/flows" csrf={props.csrf}>
      <h1>
        {flow.name} <span class="muted flow-id">{flow.id}</span> <span class={`badge ${flow.status}`}>{flow.status}</span>{" "}
        <StatusForm flowId={flow.id} status={flow.status} csrf={props.csrf} back={path} />{" "}
        <a href={`/admin/flows/${encodeURIComponent(flow.id)}/edit`}>Edit</a>
      </h1>
      <RangeForm action={path} range={range} />
      <div class="cards" id="flow-totals">
        <Card stat="entered" label="Entered" value={formatCount(totals.entered)} raw={totals.entered} />
        <Card stat="sent" label="Emails sent" value={formatCount(totals.sent)} raw={totals.sent} />
        <Card
          stat="opened"
          label={`Opened · ${formatRate(totals.rates.open_rate)}`}
          value={formatCount(totals.opened)}
          raw={totals.opened}
        />
        <Card
          stat="clicked"
          label={`Clicked · ${formatRate(totals.rates.click_rate)}`}
          value={formatCount(totals.clicked)}
          raw={totals.clicked}
        />
        <Card stat="goals" label={`Goals · ${formatRate(totals.rates.goal_rate)}`} value={formatCount(totals.goals)} raw={totals.goals} />
        <Card stat="revenue" label="Attributed revenue" value={formatMoney(totals.revenue, props.currency)} raw={totals.revenue} />
      </div>
      {props.children}
      <h2>Mail held or not sent</h2>
      {props.why.length === 0 ? (
        <p class="muted" id="why-none">
          Nothing held or stopped: every contact who reached an email step was sent it.
        </p>
      ) : (
        <table id="why-not-sent">
          <thead>
            <tr>
              <th>Why</th>
              <th class="n">Count</th>
            </tr>
          </thead>
          <tbody>
            {props.why.map((w) => (
              <tr>
                <td>{w.label}</td>
                <td class="n">{formatCount(w.count)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div class="pair">
        <FlowDiagram steps={steps} currency={props.currency} stepHref={(step) => stepPath(flow.id, step)} running={props.running} />
        <Funnel
          id="flow-funnel"
          stages={[
            { label: "Sent", value: totals.sent },
            { label: "Opened", value: totals.opened },
            { label: "Clicked", value: totals.clicked },
            { label: "Converted", value: totals.converted },
          ]}
        />
      </div>
      <h2>Steps</h2>
      <table id="steps">
        <thead>
          <NumbersHead first="Step" />
        </thead>
        <tbody>
          {steps
            .filter((s) => s.type === "email" || s.type === "removed")
            .map((s) => (
              <NumbersRow label={`${s.name ?? s.id} (${s.templates.join(", ") || s.type})`} m={s} testId={s.id} currency={props.currency} />
            ))}
        </tbody>
      </table>
      <h2>A/B tests</h2>
      {abSteps.length === 0 ? (
        <p class="muted">No step of this flow tests variants.</p>
      ) : (
        abSteps.map((s) => (
          <section class="ab" data-ab={s.id}>
            <p>
              <b>{s.name ?? s.id}</b> on {s.ab!.metric.replace("_", " ")}:{" "}
              {s.ab!.winner
                ? `winner ${s.ab!.winner.template}, decided ${s.ab!.winner.decided_at.slice(0, 10)} (p = ${s.ab!.winner.p_value.toFixed(4)})`
                : s.ab!.leader
                  ? `${s.ab!.leader} leads, p = ${s.ab!.p_value?.toFixed(4) ?? "—"} (${s.ab!.significant ? "significant at 95%" : "not significant yet"})`
                  : "no leader yet"}
            </p>
            <table>
              <thead>
                <NumbersHead first="Step" />
              </thead>
              <tbody>
                {s.variants.map((v) => (
                  <NumbersRow label={v.template} m={v} currency={props.currency} />
                ))}
              </tbody>
            </table>
          </section>
        ))
      )}
      <h2>Trend</h2>
      <TrendCharts daily={props.stats.daily} prefix="flow" currency={props.currency} />
    </Layout>
  );
}

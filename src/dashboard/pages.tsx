/** The dashboard's pages as pure components of the data the routes load. */
import type { contactTimeline } from "../db/admin-views";
import type { SuppressionRow } from "../db/schema";
import type { FlowPerformance, FlowStats, Measured, Overview } from "../reports/stats";
import { BarChart, FlowDiagram, Funnel, LineChart } from "./charts";
import { formatCount, formatMoney, formatRate, formatTime } from "./format";
import { Bare, Layout } from "./layout";
import { explainReason, HELD_AT_EMAIL, type WhyCount } from "./why";

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

function Card(props: { stat: string; label: string; value: string; raw: number | null }) {
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

/** The overview: headline numbers, trends and the flows. */
export function OverviewPage(props: { overview: Overview; csrf: string; currency: string }) {
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

function NumbersRow(props: { label: string; m: Measured; currency: string; testId?: string }) {
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

const NUMBERS_HEAD = (
  <tr>
    <th>Step</th>
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

/** One flow: its diagram with numbers, funnel, steps, A/B results and trend. */
export function FlowPage(props: { stats: FlowStats; why: WhyCount[]; csrf: string; currency: string }) {
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
        <FlowDiagram steps={steps} currency={props.currency} />
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
        <thead>{NUMBERS_HEAD}</thead>
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
              <thead>{NUMBERS_HEAD}</thead>
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

/** Contact search and results. */
export function ContactsPage(props: {
  query: string;
  contacts: { id: string; email: string; consent: string; ordersCount: number; totalSpent: number }[];
  csrf: string;
  currency: string;
}) {
  return (
    <Layout title="Contacts" section="/admin/contacts" csrf={props.csrf}>
      <h1>Contacts</h1>
      <form class="range" method="get" action="/admin/contacts">
        <input type="search" name="q" value={props.query} placeholder="email starts with… or contact id" aria-label="Search contacts" />
        <button type="submit">Search</button>
      </form>
      {props.contacts.length === 0 ? (
        <p class="muted">No contact matches.</p>
      ) : (
        <table id="contacts">
          <thead>
            <tr>
              <th>Email</th>
              <th>Consent</th>
              <th class="n">Orders</th>
              <th class="n">Spent</th>
            </tr>
          </thead>
          <tbody>
            {props.contacts.map((c) => (
              <tr>
                <td>
                  <a href={`/admin/contacts/${encodeURIComponent(c.id)}`}>{c.email}</a>
                </td>
                <td>{c.consent}</td>
                <td class="n">{formatCount(c.ordersCount)}</td>
                <td class="n">{formatMoney(c.totalSpent, props.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

/** A contact's profile and timeline. */
export function ContactPage(props: {
  data: NonNullable<Awaited<ReturnType<typeof contactTimeline>>>;
  /** `flowId/stepId` of every email step of the contact's flows: an active enrollment resting there is held. */
  emailSteps: ReadonlySet<string>;
  csrf: string;
  currency: string;
}) {
  const { contact, enrollments, timeline } = props.data;
  const name = [contact.firstName, contact.lastName].filter(Boolean).join(" ");
  return (
    <Layout title={contact.email} section="/admin/contacts" csrf={props.csrf}>
      <h1>
        {contact.email} {name && <span class="muted">({name})</span>}
      </h1>
      <div class="cards">
        <Card stat="consent" label="Consent" value={contact.consent} raw={null} />
        <Card stat="lifecycle" label="Lifecycle stage" value={contact.lifecycleStage ?? "—"} raw={null} />
        <Card stat="orders" label="Orders" value={formatCount(contact.ordersCount)} raw={contact.ordersCount} />
        <Card stat="spent" label="Total spent" value={formatMoney(contact.totalSpent, props.currency)} raw={contact.totalSpent} />
        <Card stat="streak" label="Unopened streak" value={formatCount(contact.unopenedStreak)} raw={contact.unopenedStreak} />
      </div>
      <p class="muted">
        Tags: {contact.tags.join(", ") || "none"} · Attributes: <code>{JSON.stringify(contact.attributes)}</code>
      </p>
      <h2>Enrollments</h2>
      {enrollments.length === 0 ? (
        <p class="muted">Not in any flow.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th>Flow</th>
              <th>Status</th>
              <th>Step</th>
              <th>Entered</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {enrollments.map((e) => (
              <tr>
                <td>
                  <a href={`/admin/flows/${encodeURIComponent(e.flowId)}`}>{e.flowId}</a>
                </td>
                <td>{e.status}</td>
                <td>{e.currentStep ?? "—"}</td>
                <td>{formatTime(e.enteredAt)}</td>
                <td>
                  {e.status === "active" && e.currentStep && props.emailSteps.has(`${e.flowId}/${e.currentStep}`)
                    ? HELD_AT_EMAIL
                    : explainReason(e.exitReason)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Timeline</h2>
      <table id="timeline">
        <thead>
          <tr>
            <th>When</th>
            <th>What</th>
            <th>Details</th>
          </tr>
        </thead>
        <tbody>
          {timeline.map((t) =>
            t.kind === "event" ? (
              <tr data-kind="event">
                <td>{formatTime(t.at)}</td>
                <td>
                  {t.name}
                  {t.machine && <span class="badge">machine</span>}
                </td>
                <td>
                  {t.value !== null && <b>{formatMoney(t.value, props.currency)} </b>}
                  <code>{t.detail}</code>
                </td>
              </tr>
            ) : (
              <tr data-kind="message">
                <td>{formatTime(t.at)}</td>
                <td>
                  email <span class="badge">{t.status}</span>
                  {t.reason && t.status !== "sent" && <div class="muted reason">{explainReason(t.reason)}</div>}
                </td>
                <td>
                  {t.subject}
                  {t.flow && <span class="muted">{` · ${t.flow}/${t.step ?? ""}${t.variant ? ` (${t.variant})` : ""}`}</span>}
                </td>
              </tr>
            ),
          )}
        </tbody>
      </table>
    </Layout>
  );
}

/** The suppression list. */
export function SuppressionsPage(props: { rows: SuppressionRow[]; csrf: string; notice?: string }) {
  return (
    <Layout title="Suppressions" section="/admin/suppressions" csrf={props.csrf}>
      <h1>Suppressions</h1>
      <p class="muted">
        Addresses that get no email: hard bounces, complaints and manual entries. Remove one only when you know the address works again.
      </p>
      {props.notice && <p role="status">{props.notice}</p>}
      {props.rows.length === 0 ? (
        <p class="muted">Nobody is suppressed.</p>
      ) : (
        <table id="suppressions">
          <thead>
            <tr>
              <th>Email</th>
              <th>Reason</th>
              <th>Detail</th>
              <th>Since</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {props.rows.map((s) => (
              <tr>
                <td>{s.email}</td>
                <td>{s.reason}</td>
                <td>{s.detail ?? ""}</td>
                <td>{formatTime(s.createdAt)}</td>
                <td>
                  <form class="inline" method="post" action="/admin/suppressions/lift">
                    <input type="hidden" name="_csrf" value={props.csrf} />
                    <input type="hidden" name="email" value={s.email} />
                    <button type="submit">Remove</button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

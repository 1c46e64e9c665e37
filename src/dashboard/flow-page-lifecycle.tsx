/**
 * The flow page's lifecycle section and the pages behind it, all plain forms
 * and links: the version list with what changed and restoring one (with what
 * it would do to running contacts), duplicating, deleting with what it
 * cancels, how many contacts a segment, date or inactivity trigger would
 * start for now, and the contacts on one step with its numbers. Pure
 * components of what the routes load.
 */
import type { ContactOnStep } from "../db/flow-runs";
import type { FlowDeletion } from "../db/flows";
import type { EditImpact, EntryCountView, VersionSummary } from "../http/flow-lifecycle";
import type { StepStats } from "../reports/stats";
import { formatCount, formatMoney, formatRate, formatTime } from "./format";
import { Layout } from "./layout";

const flowPath = (id: string) => `/admin/flows/${encodeURIComponent(id)}`;

/** The path of a step's page: its numbers and the contacts on it. */
export const stepPath = (flowId: string, stepId: string) => `${flowPath(flowId)}/steps/${encodeURIComponent(stepId)}`;

function CsrfField(props: { csrf: string }) {
  return <input type="hidden" name="_csrf" value={props.csrf} />;
}

function VersionsTable(props: { flowId: string; versions: VersionSummary[] }) {
  return (
    <table id="versions">
      <thead>
        <tr>
          <th>Version</th>
          <th>Saved</th>
          <th>What changed</th>
          <th />
        </tr>
      </thead>
      <tbody>
        {props.versions.map((v) => (
          <tr data-version={String(v.version)}>
            <td>v{v.version}</td>
            <td>{formatTime(Date.parse(v.saved_at))}</td>
            <td>{v.summary}</td>
            <td>
              {v.current ? (
                <span class="badge">current</span>
              ) : (
                <a href={`${flowPath(props.flowId)}/versions/${v.version}`}>Review and restore</a>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** How many contacts a trigger would start for now, in words. */
function EntryCountNote(props: { entry: EntryCountView }) {
  const e = props.entry;
  return (
    <p id="entry-count" data-count={String(e.count)}>
      <b>{formatCount(e.count)}</b> {e.count === 1 ? "contact" : "contacts"} would enter now ({formatCount(e.subscribed)} subscribed to
      marketing mail). <span class="muted">{e.explanation}.</span>
    </p>
  );
}

/** The flow page's lifecycle section: who would enter, running contacts, duplicate and delete, the latest versions. */
export function FlowLifecycle(props: {
  flowId: string;
  entry: EntryCountView | null;
  /** A segment, date or inactivity trigger, whose entrants can be counted (the route counts them before launch). */
  countable: boolean;
  running: number;
  versions: VersionSummary[];
  moreVersions: boolean;
  csrf: string;
}) {
  const path = flowPath(props.flowId);
  return (
    <section id="lifecycle">
      <h2>Entering and running</h2>
      {props.entry ? (
        <EntryCountNote entry={props.entry} />
      ) : (
        props.countable && (
          <p>
            <a href={`${path}?entry_count=1`} id="count-entrants">
              Count the contacts who would enter now
            </a>
          </p>
        )
      )}
      <p id="running">
        {formatCount(props.running)} {props.running === 1 ? "contact is" : "contacts are"} running in this flow now; the diagram links each
        step to the contacts on it.
      </p>
      <p>
        <form class="inline" method="post" action={`${path}/duplicate`}>
          <CsrfField csrf={props.csrf} />
          <button type="submit">Duplicate as a draft</button>
        </form>{" "}
        <a href={`${path}/delete`}>Delete this flow…</a>
      </p>
      <h2>Versions</h2>
      <VersionsTable flowId={props.flowId} versions={props.versions} />
      {props.moreVersions && (
        <p>
          <a href={`${path}/versions`}>All versions</a>
        </p>
      )}
    </section>
  );
}

/** Every version of a flow, a page at a time. */
export function VersionsPage(props: { flowId: string; name: string; versions: VersionSummary[]; nextCursor: number | null; csrf: string }) {
  const path = flowPath(props.flowId);
  return (
    <Layout title={`Versions of ${props.name}`} section="/admin/flows" csrf={props.csrf}>
      <h1>
        Versions of <a href={path}>{props.name}</a>
      </h1>
      <VersionsTable flowId={props.flowId} versions={props.versions} />
      {props.nextCursor !== null && (
        <p>
          <a href={`${path}/versions?before=${props.nextCursor}`}>Older versions</a>
        </p>
      )}
    </Layout>
  );
}

/** What a change would do to running contacts, as the restore and edit confirmations say it. */
export function ImpactNote(props: { impact: EditImpact }) {
  const i = props.impact;
  if (i.affected === 0) {
    return (
      <p id="impact" data-affected="0">
        No running contact sits on a step this removes{i.running > 0 ? `; the ${formatCount(i.running)} running keep their place` : ""}.
      </p>
    );
  }
  return (
    <div id="impact" data-affected={String(i.affected)}>
      <p class="error">
        {formatCount(i.affected)} running {i.affected === 1 ? "contact sits" : "contacts sit"} on steps this removes; they leave the flow
        (reason: step removed) at their next event or wait:
      </p>
      <ul>
        {i.on_removed_steps.map((s) => (
          <li data-step={s.step}>
            {s.step}: {formatCount(s.contacts)}
          </li>
        ))}
      </ul>
    </div>
  );
}

/** One saved version: what restoring it changes, what that does to running contacts, its definition, and the restore button. */
export function VersionPage(props: {
  flowId: string;
  name: string;
  version: number;
  savedAt: number;
  current: boolean;
  impact: EditImpact;
  definition: unknown;
  problems: string[];
  csrf: string;
}) {
  const path = flowPath(props.flowId);
  return (
    <Layout title={`${props.name} v${props.version}`} section="/admin/flows" csrf={props.csrf}>
      <h1>
        <a href={path}>{props.name}</a> · version {props.version}
      </h1>
      <p class="muted">Saved {formatTime(props.savedAt)}.</p>
      {props.current ? (
        <p>This is the current version.</p>
      ) : (
        <>
          <p id="restore-changes">Restoring it saves it as a new version and, against the current one, {props.impact.summary}.</p>
          <ImpactNote impact={props.impact} />
          {props.problems.length > 0 && (
            <ul class="error" id="problems">
              {props.problems.map((p) => (
                <li>{p}</li>
              ))}
            </ul>
          )}
          <form method="post" action={`${path}/versions/${props.version}/restore`}>
            <CsrfField csrf={props.csrf} />
            <button class="primary" type="submit">
              Restore version {props.version}
            </button>
          </form>
        </>
      )}
      <h2>Definition</h2>
      <pre class="code">{JSON.stringify(props.definition, null, 2)}</pre>
    </Layout>
  );
}

/** The delete confirmation: how many queued messages and running enrollments deleting would cancel. */
export function DeleteFlowPage(props: { flowId: string; name: string; status: string; impact: FlowDeletion; csrf: string }) {
  const path = flowPath(props.flowId);
  const { cancelledMessages: queued, endedEnrollments: running } = props.impact;
  return (
    <Layout title={`Delete ${props.name}`} section="/admin/flows" csrf={props.csrf}>
      <h1>
        Delete <a href={path}>{props.name}</a>?
      </h1>
      <p id="delete-warning" data-queued={String(queued)} data-running={String(running)}>
        Deleting this {props.status} flow cancels <b>{formatCount(queued)}</b> queued {queued === 1 ? "message" : "messages"} and ends{" "}
        <b>{formatCount(running)}</b> running {running === 1 ? "enrollment" : "enrollments"}. Its versions are deleted too; sent mail and
        its numbers stay. This cannot be undone{props.status === "active" ? " — pausing keeps everything instead" : ""}.
      </p>
      <form method="post" action={`${path}/delete`}>
        <CsrfField csrf={props.csrf} />
        <button class="primary" type="submit">
          Delete the flow
        </button>{" "}
        <a href={path}>Keep it</a>
      </form>
    </Layout>
  );
}

/** One step: its numbers over the chosen range and the contacts on it now, a page at a time. */
export function StepPage(props: {
  flowId: string;
  flowName: string;
  step: StepStats;
  range: { from: string; to: string };
  contacts: ContactOnStep[];
  nextCursor: string | null;
  currency: string;
  csrf: string;
}) {
  const s = props.step;
  const here = stepPath(props.flowId, s.id);
  const numbers: [string, string][] =
    s.type === "email"
      ? [
          ["Sent", formatCount(s.sent)],
          ["Delivered", formatCount(s.delivered)],
          ["Opened", `${formatCount(s.opened)} · ${formatRate(s.rates.open_rate)}`],
          ["Clicked", `${formatCount(s.clicked)} · ${formatRate(s.rates.click_rate)}`],
          ["Conversions", formatCount(s.converted)],
          ["Revenue", formatMoney(s.revenue, props.currency)],
          ["Unsubscribed", formatCount(s.unsubscribed)],
          ["Bounced", formatCount(s.bounced)],
        ]
      : [["Step", s.summary ?? s.type]];
  return (
    <Layout title={`${props.flowName} · ${s.name ?? s.id}`} section="/admin/flows" csrf={props.csrf}>
      <h1>
        <a href={flowPath(props.flowId)}>{props.flowName}</a> · {s.name ?? s.id} <span class="muted">{s.type}</span>
      </h1>
      <h2>
        Numbers{" "}
        <span class="muted">
          {props.range.from} to {props.range.to}
        </span>
      </h2>
      <table id="step-numbers">
        <tbody>
          {numbers.map(([label, value]) => (
            <tr>
              <th>{label}</th>
              <td class="n">{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Contacts on this step now</h2>
      {props.contacts.length === 0 ? (
        <p class="muted" id="step-contacts-none">
          No running contact is on this step.
        </p>
      ) : (
        <table id="step-contacts">
          <thead>
            <tr>
              <th>Contact</th>
              <th>Entered the flow</th>
            </tr>
          </thead>
          <tbody>
            {props.contacts.map((c) => (
              <tr>
                <td>
                  <a href={`/admin/contacts/${encodeURIComponent(c.contactId)}`}>{c.email ?? c.contactId}</a>
                </td>
                <td>{formatTime(c.enteredAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.nextCursor !== null && (
        <p>
          <a href={`${here}?cursor=${encodeURIComponent(props.nextCursor)}`}>Next page</a>
        </p>
      )}
    </Layout>
  );
}

/**
 * The flow page's "before launch" tools, as plain forms: a test send of every
 * email of the flow to one address, and a simulation of what the flow would
 * have done over the last days of stored events. The section on the flow
 * page, and the two pages the forms post to (each showing its form again,
 * with problems next to the field, above the result). Pure components of
 * what the routes load; the sending and the replay are the API's own
 * functions (http/flow-test, http/flow-simulate).
 */
import type { FlowSimulation } from "../http/flow-simulate";
import type { FlowTestMessage } from "../http/flow-test";
import { formatCount, formatTime } from "./format";
import { Layout } from "./layout";

/** What the test-send form holds, and its problems by field (`to`, `contact`, or `flow` for the flow's own templates). */
export interface TestSendForm {
  to: string;
  contact: string;
  problems: Partial<Record<"to" | "contact" | "flow", string>>;
}

/** What the simulate form holds, and its problem (bad days, or a trigger that cannot be replayed). */
export interface SimulateForm {
  days: string;
  problem: string | null;
}

const flowPath = (id: string) => `/admin/flows/${encodeURIComponent(id)}`;

function Problem(props: { field: string; message: string | undefined | null }) {
  if (!props.message) return null;
  return (
    <span class="error" data-problem={props.field}>
      {" "}
      {props.message}
    </span>
  );
}

function TestSendFormView(props: { flowId: string; form: TestSendForm; csrf: string }) {
  const { form } = props;
  return (
    <form method="post" action={`${flowPath(props.flowId)}/test`} id="test-send">
      <input type="hidden" name="_csrf" value={props.csrf} />
      <label>
        Send to <input type="email" name="to" value={form.to} required maxlength={254} placeholder="you@example.com" />
        <Problem field="to" message={form.problems.to} />
      </label>{" "}
      <label>
        Render for contact (id or email, optional){" "}
        <input type="text" name="contact" value={form.contact} maxlength={254} placeholder="the sample contact" />
        <Problem field="contact" message={form.problems.contact} />
      </label>{" "}
      <button type="submit">Send a test of every email</button>
      {form.problems.flow && (
        <p class="error" data-problem="flow">
          {form.problems.flow}
        </p>
      )}
    </form>
  );
}

function SimulateFormView(props: { flowId: string; form: SimulateForm; maxDays: number; csrf: string }) {
  return (
    <form method="post" action={`${flowPath(props.flowId)}/simulate`} id="simulate">
      <input type="hidden" name="_csrf" value={props.csrf} />
      <label>
        Replay the last <input type="number" name="days" value={props.form.days} min={1} max={props.maxDays} required /> days of events
        <Problem field="days" message={props.form.problem} />
      </label>{" "}
      <button type="submit">Simulate</button>
    </form>
  );
}

/** The flow page's section with both forms, empty. */
export function FlowTools(props: { flowId: string; maxDays: number; csrf: string }) {
  return (
    <section id="flow-tools">
      <h2>Before launch</h2>
      <p class="muted">
        A test send mails every email, A/B variant and notify email of this flow to one address, marked as a test and kept out of stats.
      </p>
      <TestSendFormView flowId={props.flowId} form={{ to: "", contact: "", problems: {} }} csrf={props.csrf} />
      <p class="muted">A simulation replays stored events through this flow, as it is saved now, and sends and writes nothing.</p>
      <SimulateFormView
        flowId={props.flowId}
        form={{ days: String(props.maxDays), problem: null }}
        maxDays={props.maxDays}
        csrf={props.csrf}
      />
    </section>
  );
}

/** The test send's page: the form again (with its problems), then each email sent and how it ended. */
export function FlowTestPage(props: { flowId: string; name: string; form: TestSendForm; sent: FlowTestMessage[] | null; csrf: string }) {
  return (
    <Layout title={`Test ${props.name}`} section="/admin/flows" csrf={props.csrf}>
      <h1>
        Test send · <a href={flowPath(props.flowId)}>{props.name}</a>
      </h1>
      <TestSendFormView flowId={props.flowId} form={props.form} csrf={props.csrf} />
      {props.sent &&
        (props.sent.length === 0 ? (
          <p class="muted" id="test-none">
            This flow has no email or notify step: nothing was sent.
          </p>
        ) : (
          <>
            <p id="test-summary">
              {formatCount(props.sent.length)} test {props.sent.length === 1 ? "email" : "emails"} to {props.form.to}:
            </p>
            <table id="test-sent">
              <thead>
                <tr>
                  <th>Step</th>
                  <th>Variant</th>
                  <th>Subject</th>
                  <th>Status</th>
                </tr>
              </thead>
              <tbody>
                {props.sent.map((m) => (
                  <tr data-message={m.id}>
                    <td>
                      {m.step_id} <span class="muted">{m.step_type}</span>
                    </td>
                    <td>{m.variant ?? "—"}</td>
                    <td>{m.mailbox_url ? <a href={new URL(m.mailbox_url).pathname}>{m.subject}</a> : m.subject}</td>
                    <td>
                      {m.status}
                      {m.reason ? ` (${m.reason})` : ""}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ))}
    </Layout>
  );
}

function SimulationResult(props: { sim: FlowSimulation }) {
  const s = props.sim;
  const ended = Object.entries(s.ended);
  return (
    <section id="simulation" data-entered={String(s.entered)} data-goal-reached={String(s.goal_reached)}>
      <p id="simulation-window">
        From {formatTime(Date.parse(s.window.from))} to {formatTime(Date.parse(s.window.to))}: {formatCount(s.contacts_replayed)} contacts
        with the trigger's events replayed (at most {formatCount(s.bounds.contacts)}, {formatCount(s.bounds.events_per_contact)} events
        each).
      </p>
      {s.bounds.contacts_truncated && (
        <p class="error" id="simulation-truncated">
          More contacts matched than the bound: only the first {formatCount(s.bounds.contacts)} were replayed.
        </p>
      )}
      <table id="simulation-totals">
        <tbody>
          {(
            [
              ["entered", "Entered", s.entered],
              ["contacts_entered", "Contacts who entered", s.contacts_entered],
              ["goal_reached", "Goal reached", s.goal_reached],
              ["still_active", "Still running at the end", s.still_active],
            ] as const
          ).map(([key, label, value]) => (
            <tr data-total={key}>
              <th>{label}</th>
              <td class="n">{formatCount(value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Steps</h2>
      <table id="simulation-steps">
        <thead>
          <tr>
            <th>Step</th>
            <th class="n">Reached</th>
            <th class="n">Emails</th>
          </tr>
        </thead>
        <tbody>
          {s.steps.map((step) => (
            <tr data-step={step.id} data-reached={String(step.reached)} data-emails={String(step.emails)}>
              <td>
                {step.id} <span class="muted">{step.type}</span>
              </td>
              <td class="n">{formatCount(step.reached)}</td>
              <td class="n">{formatCount(step.emails)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Ended by reason</h2>
      {ended.length === 0 ? (
        <p class="muted">No enrollment ended in the window.</p>
      ) : (
        <table id="simulation-ended">
          <tbody>
            {ended.map(([reason, n]) => (
              <tr data-reason={reason} data-count={String(n)}>
                <th>{reason}</th>
                <td class="n">{formatCount(n)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Sample contacts</h2>
      {s.samples.length === 0 ? (
        <p class="muted">No contact entered.</p>
      ) : (
        s.samples.map((sample) => (
          <section class="sample" data-contact={sample.contact_id}>
            <h3>
              {sample.email} <span class="muted">entered {formatTime(Date.parse(sample.entered_at))}</span> · {sample.status}
              {sample.end_reason ? ` (${sample.end_reason})` : ""}
            </h3>
            {sample.emails.length === 0 ? (
              <p class="muted">No email.</p>
            ) : (
              <table>
                <tbody>
                  {sample.emails.map((e) => (
                    <tr data-step={e.step_id}>
                      <td>{formatTime(Date.parse(e.at))}</td>
                      <td>
                        {e.step_id} <span class="muted">{e.kind}</span>
                      </td>
                      <td>{e.variant ?? ""}</td>
                      <td>{e.subject ?? `(template ${e.template_id} is gone)`}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        ))
      )}
    </section>
  );
}

/** The simulation's page: the form again (with its problem), then what the flow would have done. */
export function FlowSimulationPage(props: {
  flowId: string;
  name: string;
  status: string;
  form: SimulateForm;
  maxDays: number;
  sim: FlowSimulation | null;
  csrf: string;
}) {
  return (
    <Layout title={`Simulate ${props.name}`} section="/admin/flows" csrf={props.csrf}>
      <h1>
        Simulation · <a href={flowPath(props.flowId)}>{props.name}</a> <span class={`badge ${props.status}`}>{props.status}</span>
      </h1>
      <p class="muted">Nothing was sent or written: this is what the flow, as saved, would have done with the stored events.</p>
      <SimulateFormView flowId={props.flowId} form={props.form} maxDays={props.maxDays} csrf={props.csrf} />
      {props.sim && <SimulationResult sim={props.sim} />}
    </Layout>
  );
}

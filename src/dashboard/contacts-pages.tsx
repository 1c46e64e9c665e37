/** The dashboard's contact pages as pure components: the list, the importer, a contact's page, segments, suppressions. */
import type { contactTimeline } from "../db/admin-views";
import { CONSENT_STATES, type ContactRow, type SuppressionRow } from "../db/schema";
import { formatCount, formatMoney, formatTime } from "./format";
import { Island } from "./island";
import { Layout } from "./layout";
import { explainReason, HELD_AT_EMAIL } from "./why";

/** Problems of a submitted form by field name ("" for the form as a whole). */
export type FieldProblems = Record<string, string[]>;

function Problems(props: { problems: FieldProblems; field: string }) {
  const list = props.problems[props.field] ?? [];
  return list.length === 0 ? null : (
    <span class="error" data-problem={props.field}>
      {" "}
      {list.join("; ")}
    </span>
  );
}

function Csrf(props: { csrf: string }) {
  return <input type="hidden" name="_csrf" value={props.csrf} />;
}

/** What the contact list shows, as the query gave it. */
export interface ContactListQuery {
  q: string;
  segment: string;
  consent: string;
}

/** The contact list: search by email or name prefix, segment and consent filters, a page at a time, export. */
export function ContactsPage(props: {
  query: ContactListQuery;
  segments: { id: string; name: string }[];
  contacts: ContactRow[];
  nextCursor: string | null;
  problem: string | null;
  csrf: string;
  currency: string;
}) {
  const { q, segment, consent } = props.query;
  const params = (extra: Record<string, string>) =>
    new URLSearchParams(Object.entries({ q, segment, consent, ...extra }).filter(([, v]) => v !== "")).toString();
  const exportQuery = segment ? `?${new URLSearchParams({ segment })}` : "";
  return (
    <Layout title="Contacts" section="/admin/contacts" csrf={props.csrf}>
      <h1>Contacts</h1>
      <p>
        <a href="/admin/contacts/import">Import a CSV</a> · <a href={`/admin/contacts/export${exportQuery}`}>Export as CSV</a>
        {segment && <span class="muted"> (this segment)</span>} · <a href="/admin/segments">Segments</a>
      </p>
      <form class="range" method="get" action="/admin/contacts">
        <input type="search" name="q" value={q} placeholder="email or name starts with…" aria-label="Search contacts" />
        <select name="segment" aria-label="Segment">
          <option value="">All contacts</option>
          {props.segments.map((s) => (
            <option value={s.id} selected={s.id === segment}>
              {s.name}
            </option>
          ))}
        </select>
        <select name="consent" aria-label="Consent">
          <option value="">Any consent</option>
          {CONSENT_STATES.map((state) => (
            <option value={state} selected={state === consent}>
              {state}
            </option>
          ))}
        </select>
        <button type="submit">Search</button>
      </form>
      {props.problem && <p class="error">{props.problem}</p>}
      {props.contacts.length === 0 ? (
        <p class="muted">No contact matches.</p>
      ) : (
        <table id="contacts">
          <thead>
            <tr>
              <th>Email</th>
              <th>Name</th>
              <th>Consent</th>
              <th>Tags</th>
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
                <td>{[c.firstName, c.lastName].filter(Boolean).join(" ")}</td>
                <td>{c.consent}</td>
                <td>{c.tags.join(", ")}</td>
                <td class="n">{formatCount(c.ordersCount)}</td>
                <td class="n">{formatMoney(c.totalSpent, props.currency)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.nextCursor && (
        <p>
          <a rel="next" href={`/admin/contacts?${params({ cursor: props.nextCursor })}`}>
            Next page →
          </a>
        </p>
      )}
    </Layout>
  );
}

/** The importer island, and without JavaScript the API route that does the same. */
export function ImportPage(props: { csrf: string; maxBatch: number }) {
  return (
    <Layout title="Import contacts" section="/admin/contacts" csrf={props.csrf}>
      <h1>Import contacts from a CSV</h1>
      <p class="muted">
        The file is read in your browser and sent {formatCount(props.maxBatch)} contacts at a time. Existing contacts (by email) are
        updated; nobody is enrolled in a flow or sent a welcome email by an import.
      </p>
      <Island name="importer" props={{}}>
        <p>The importer needs JavaScript. Without it, send the CSV to the API yourself, {formatCount(props.maxBatch)} rows per call:</p>
        <pre class="code">
          {`curl -X POST "$NURTURE_URL/v1/contacts/batch" \\
  -H "Authorization: Bearer $ADMIN_API_KEY" \\
  -H "Content-Type: text/csv" --data-binary @contacts.csv`}
        </pre>
        <p>
          Columns: email (required), first_name, last_name, timezone, lifecycle_stage, consent, tags (separated by ";"); every other column
          becomes an attribute.
        </p>
      </Island>
    </Layout>
  );
}

/** The values of the contact form, as stored or as submitted. */
export interface ContactFormValues {
  first_name: string;
  last_name: string;
  timezone: string;
  lifecycle_stage: string;
  tags: string;
  attributes: string;
}

/** The form's values of a stored contact. */
export function contactFormValues(contact: ContactRow): ContactFormValues {
  return {
    first_name: contact.firstName ?? "",
    last_name: contact.lastName ?? "",
    timezone: contact.timezone ?? "",
    lifecycle_stage: contact.lifecycleStage ?? "",
    tags: contact.tags.join(", "),
    attributes: JSON.stringify(contact.attributes, null, 2),
  };
}

function Card(props: { stat: string; label: string; value: string; raw: number | null }) {
  return (
    <div class="card" data-stat={props.stat} data-value={props.raw === null ? "" : String(props.raw)}>
      <b>{props.value}</b>
      <span>{props.label}</span>
    </div>
  );
}

/** A contact's profile with its edit forms, and the timeline. */
export function ContactPage(props: {
  data: NonNullable<Awaited<ReturnType<typeof contactTimeline>>>;
  /** `flowId/stepId` of every email step of the contact's flows: an active enrollment resting there is held. */
  emailSteps: ReadonlySet<string>;
  values: ContactFormValues;
  problems: FieldProblems;
  notice: string | null;
  suppressed: boolean;
  /** Active flows, for "Enroll in flow". */
  activeFlows: { id: string; name: string }[];
  csrf: string;
  currency: string;
}) {
  const { contact, enrollments, timeline } = props.data;
  const name = [contact.firstName, contact.lastName].filter(Boolean).join(" ");
  const action = `/admin/contacts/${encodeURIComponent(contact.id)}`;
  const field = (key: keyof ContactFormValues, label: string) => (
    <label>
      {label}
      <Problems problems={props.problems} field={key} />
      <input type="text" name={key} value={props.values[key]} />
    </label>
  );
  return (
    <Layout title={contact.email} section="/admin/contacts" csrf={props.csrf}>
      <h1>
        {contact.email} {name && <span class="muted">({name})</span>}
      </h1>
      {props.notice && <p role="status">{props.notice}</p>}
      <Problems problems={props.problems} field="" />
      <div class="cards">
        <Card stat="consent" label="Consent" value={contact.consent} raw={null} />
        <Card stat="lifecycle" label="Lifecycle stage" value={contact.lifecycleStage ?? "—"} raw={null} />
        <Card stat="orders" label="Orders" value={formatCount(contact.ordersCount)} raw={contact.ordersCount} />
        <Card stat="spent" label="Total spent" value={formatMoney(contact.totalSpent, props.currency)} raw={contact.totalSpent} />
        <Card stat="streak" label="Unopened streak" value={formatCount(contact.unopenedStreak)} raw={contact.unopenedStreak} />
      </div>
      <div class="split">
        <form class="editor" method="post" action={action} id="contact-form">
          <Csrf csrf={props.csrf} />
          <h2>Profile</h2>
          {field("first_name", "First name")}
          {field("last_name", "Last name")}
          {field("timezone", "Time zone (IANA, e.g. Europe/Berlin)")}
          {field("lifecycle_stage", "Lifecycle stage")}
          {field("tags", "Tags (comma-separated)")}
          <label>
            Attributes (a JSON object)
            <Problems problems={props.problems} field="attributes" />
            <textarea name="attributes" rows={8}>
              {props.values.attributes}
            </textarea>
          </label>
          <button type="submit" class="primary">
            Save
          </button>
        </form>
        <div>
          <h2>Consent</h2>
          <form class="range" method="post" action={`${action}/consent`}>
            <Csrf csrf={props.csrf} />
            <select name="consent" aria-label="Consent">
              {CONSENT_STATES.map((state) => (
                <option value={state} selected={state === contact.consent}>
                  {state}
                </option>
              ))}
            </select>
            <button type="submit">Change consent</button>
            <Problems problems={props.problems} field="consent" />
          </form>
          {contact.consent !== "unsubscribed" && (
            <form class="inline" method="post" action={`${action}/consent`}>
              <Csrf csrf={props.csrf} />
              <input type="hidden" name="consent" value="unsubscribed" />
              <button type="submit">Unsubscribe</button>
            </form>
          )}
          <h2>Suppression</h2>
          {props.suppressed ? (
            <p>
              Suppressed: this address gets no email. <a href="/admin/suppressions">Suppressions</a>
            </p>
          ) : (
            <form class="range" method="post" action={`${action}/suppress`}>
              <Csrf csrf={props.csrf} />
              <input type="search" name="reason" placeholder="reason (optional)" aria-label="Suppression reason" />
              <button type="submit">Suppress</button>
            </form>
          )}
          <h2>Erase</h2>
          <p class="muted">Deletes the contact and every row that names them (GDPR); the address stays suppressed as a one-way hash.</p>
          <p>
            <a href={`${action}/erase`}>Erase this contact…</a>
          </p>
        </div>
      </div>
      <h2>Enrollments</h2>
      <Problems problems={props.problems} field="enrollment" />
      {props.activeFlows.length === 0 ? (
        <p class="muted">No active flow to enroll this contact in.</p>
      ) : (
        <form class="range" method="post" action={`${action}/enrollments`} id="enroll-form">
          <Csrf csrf={props.csrf} />
          <select name="flow" aria-label="Flow">
            {props.activeFlows.map((f) => (
              <option value={f.id}>{f.name === f.id ? f.id : `${f.name} (${f.id})`}</option>
            ))}
          </select>
          <button type="submit">Enroll in flow</button>
        </form>
      )}
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
              <th />
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
                <td>
                  {e.status === "active" && (
                    <form class="inline" method="post" action={`${action}/enrollments/${encodeURIComponent(e.flowId)}/remove`}>
                      <Csrf csrf={props.csrf} />
                      <button type="submit">Remove from flow</button>
                    </form>
                  )}
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

/** The confirmation step before erasing: the address must be typed again. */
export function EraseContactPage(props: { contact: ContactRow; problem: string | null; csrf: string }) {
  const action = `/admin/contacts/${encodeURIComponent(props.contact.id)}`;
  return (
    <Layout title={`Erase ${props.contact.email}`} section="/admin/contacts" csrf={props.csrf}>
      <h1>Erase {props.contact.email}?</h1>
      <p>
        This deletes the contact, their events, messages, enrollments and links, and cannot be undone. The address stays suppressed as a
        one-way hash, so an import or event cannot mail them again.
      </p>
      <form class="editor" method="post" action={`${action}/erase`}>
        <Csrf csrf={props.csrf} />
        <label>
          Type the address to confirm
          {props.problem && <span class="error"> {props.problem}</span>}
          <input type="text" name="confirm" autocomplete="off" />
        </label>
        <button type="submit" class="primary">
          Erase for good
        </button>{" "}
        <a href={action}>Cancel</a>
      </form>
    </Layout>
  );
}

/** One segment with its member count, capped. */
export interface SegmentCount {
  id: string;
  name: string;
  members: number;
  /** True when the count stopped at the cap: there are at least `members`. */
  capped: boolean;
  updatedAt: number;
}

/** The segments with their member counts now. */
export function SegmentsPage(props: { segments: SegmentCount[]; next: string | undefined; csrf: string }) {
  return (
    <Layout title="Segments" section="/admin/segments" csrf={props.csrf}>
      <h1>Segments</h1>
      <p>
        <a href="/admin/segments/new">New segment</a>
      </p>
      {props.segments.length === 0 ? (
        <p class="muted">No segments yet.</p>
      ) : (
        <table id="segments">
          <thead>
            <tr>
              <th>Segment</th>
              <th class="n">Members now</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {props.segments.map((s) => (
              <tr data-segment={s.id}>
                <td>
                  <a href={`/admin/segments/${encodeURIComponent(s.id)}`}>{s.name}</a> <span class="muted">{s.id}</span>
                </td>
                <td class="n" data-members={s.members}>
                  {s.capped ? `${formatCount(s.members)}+` : formatCount(s.members)}
                </td>
                <td>{formatTime(s.updatedAt)}</td>
                <td>
                  <a href={`/admin/contacts?segment=${encodeURIComponent(s.id)}`}>Members</a> ·{" "}
                  <a href={`/admin/contacts/export?segment=${encodeURIComponent(s.id)}`}>Export</a>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {props.next && (
        <p>
          <a rel="next" href={`/admin/segments?after=${encodeURIComponent(props.next)}`}>
            More segments →
          </a>
        </p>
      )}
      <p class="muted">Counts are taken now, one bounded query per segment; a count stops at 100,000 and shows as 100,000+.</p>
    </Layout>
  );
}

/** The suppression list, with forms to add addresses and the export. */
export function SuppressionsPage(props: {
  rows: SuppressionRow[];
  csrf: string;
  notice?: string;
  problems?: FieldProblems;
  values?: { emails: string; reason: string };
}) {
  const problems = props.problems ?? {};
  return (
    <Layout title="Suppressions" section="/admin/suppressions" csrf={props.csrf}>
      <h1>Suppressions</h1>
      <p class="muted">
        Addresses that get no email: hard bounces, complaints and manual entries. Remove one only when you know the address works again.
      </p>
      {props.notice && <p role="status">{props.notice}</p>}
      <form class="editor" method="post" action="/admin/suppressions/add" id="add-suppressions">
        <Csrf csrf={props.csrf} />
        <label>
          Addresses to suppress (one per line, or separated by commas)
          <Problems problems={problems} field="emails" />
          <textarea name="emails" rows={4}>
            {props.values?.emails ?? ""}
          </textarea>
        </label>
        <label>
          Reason
          <Problems problems={problems} field="reason" />
          <input type="text" name="reason" value={props.values?.reason ?? ""} placeholder="e.g. asked by phone not to be mailed" />
        </label>
        <button type="submit" class="primary">
          Suppress
        </button>{" "}
        <a href="/admin/suppressions/export">Export as CSV</a>
      </form>
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
                    <Csrf csrf={props.csrf} />
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

/** Dashboard pages for mail content: templates with a rendered preview, and the dev mailbox. */
import type { MessageRow, TemplateRow } from "../db/schema";
import type { RenderedEmail } from "../delivery/render";
import { formatTime } from "./format";
import { Island } from "./island";
import { Layout } from "./layout";

/** Every template, linking to its editor. */
export function TemplatesPage(props: { templates: TemplateRow[]; subjects: ReadonlyMap<string, string>; csrf: string }) {
  return (
    <Layout title="Templates" section="/admin/templates" csrf={props.csrf}>
      <h1>Templates</h1>
      <form class="range" method="get" action="/admin/templates/new" id="new-template">
        <input
          type="search"
          name="id"
          required
          pattern="[A-Za-z0-9][A-Za-z0-9_\-]{0,63}"
          placeholder="new template id, e.g. spring-sale"
          aria-label="New template id"
        />
        <button class="primary" type="submit">
          New template
        </button>
      </form>
      <p class="muted">
        Liquid templates. Open one to edit it and see it rendered as it is sent; subjects below are shown for the sample contact.
      </p>
      {props.templates.length === 0 ? (
        <p class="muted">No templates yet.</p>
      ) : (
        <table id="templates">
          <thead>
            <tr>
              <th>Id</th>
              <th>Subject</th>
              <th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {props.templates.map((t) => (
              <tr>
                <td>
                  <a href={`/admin/templates/${encodeURIComponent(t.id)}`}>{t.id}</a>
                  {t.libraryHash && <span class="badge">library</span>}
                </td>
                <td>{props.subjects.get(t.id) ?? t.subject}</td>
                <td>{formatTime(t.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

const FIELDS = [
  ["subject", "Subject", 1],
  ["preheader", "Preheader", 1],
  ["from", "From", 1],
  ["reply_to", "Reply-To", 1],
  ["html", "HTML", 16],
  ["text", "Plain text (derived from the HTML when empty)", 6],
] as const;

/** A template's editor beside its preview; saving re-renders the preview for the chosen contact. */
export function TemplatePage(props: {
  id: string;
  values: Record<(typeof FIELDS)[number][0], string>;
  preview: RenderedEmail | null;
  problems: string[];
  contact: string;
  /** False for a template not saved yet (a new one). */
  exists: boolean;
  /** True when the library has its own version of this template and the stored one differs from it. */
  restorable: boolean;
  notice: string | null;
  /** The last test send's outcome. */
  test: { message: string; failed: boolean } | null;
  csrf: string;
}) {
  const action = `/admin/templates/${encodeURIComponent(props.id)}`;
  return (
    <Layout title={`Template ${props.id}`} section="/admin/templates" csrf={props.csrf}>
      <h1>
        {props.exists ? "Template" : "New template"} {props.id}
      </h1>
      {props.notice && <p role="status">{props.notice}</p>}
      {props.restorable && (
        <form class="range" method="post" action={`${action}/restore`} id="restore-library">
          <input type="hidden" name="_csrf" value={props.csrf} />
          <span class="muted">This is a library template you edited.</span>
          <button type="submit">Restore the library's version</button>
        </form>
      )}
      <div class="split">
        <form method="post" action={action} class="editor" id="template-form">
          <input type="hidden" name="_csrf" value={props.csrf} />
          <input type="hidden" name="contact" value={props.contact} />
          {FIELDS.map(([name, label, rows]) => (
            <>
              <label for={`field-${name}`}>{label}</label>
              {rows === 1 ? (
                <input id={`field-${name}`} type="text" name={name} value={props.values[name]} />
              ) : (
                <textarea id={`field-${name}`} name={name} rows={rows}>
                  {props.values[name]}
                </textarea>
              )}
            </>
          ))}
          {props.problems.length > 0 && (
            <ul class="error" id="problems">
              {props.problems.map((p) => (
                <li>{p}</li>
              ))}
            </ul>
          )}
          <button class="primary" type="submit">
            Save and preview
          </button>
        </form>
        <section>
          <form class="range" method="get" action={action}>
            <input
              type="search"
              name="contact"
              value={props.contact}
              placeholder="preview for contact (email or id)"
              aria-label="Preview for contact"
            />
            <button type="submit">Preview</button>
          </form>
          {props.test && (
            <p class={props.test.failed ? "error" : undefined} role="status" id="test-outcome">
              {props.test.message}
            </p>
          )}
          {props.exists && (
            <form class="range" method="post" action={`${action}/test`} id="test-send">
              <input type="hidden" name="_csrf" value={props.csrf} />
              <input type="hidden" name="contact" value={props.contact} />
              <input type="search" name="to" required placeholder="send a test to…" aria-label="Test address" />
              <button type="submit">Send a test</button>
            </form>
          )}
          <Island
            name="template-preview"
            props={{ id: props.id, draftAction: `${action}/draft`, csrf: props.csrf, contact: props.contact }}
          >
            {props.preview ? (
              <RenderedView email={props.preview} frame={`${action}/render?contact=${encodeURIComponent(props.contact)}`} />
            ) : null}
          </Island>
        </section>
      </div>
    </Layout>
  );
}

/** An email as rendered: subject, From, headers, the HTML framed (sandboxed) and the text. */
export function RenderedView(props: {
  email: { subject: string; from: string; text: string; headers: Record<string, string> };
  frame: string;
}) {
  return (
    <div class="rendered">
      <table>
        <tbody>
          <tr>
            <th>Subject</th>
            <td id="preview-subject">{props.email.subject}</td>
          </tr>
          <tr>
            <th>From</th>
            <td>{props.email.from}</td>
          </tr>
          {Object.entries(props.email.headers).map(([name, value]) => (
            <tr>
              <th>{name}</th>
              <td>
                <code>{value}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <iframe title="HTML part" src={props.frame} sandbox="allow-popups allow-popups-to-escape-sandbox" class="mail" />
      <h2>Plain text</h2>
      <pre class="mail-text">{props.email.text}</pre>
    </div>
  );
}

/** The dev mailbox: what would have been sent, newest first. */
export function MailboxPage(props: { messages: MessageRow[]; csrf: string }) {
  return (
    <Layout title="Mailbox" section="/admin/mailbox" csrf={props.csrf}>
      <h1>Dev mailbox</h1>
      <p class="muted">With no RESEND_API_KEY, mail is rendered exactly as it would be sent and kept here instead.</p>
      {props.messages.length === 0 ? (
        <p class="muted">The mailbox is empty.</p>
      ) : (
        <table id="mailbox">
          <thead>
            <tr>
              <th>Sent</th>
              <th>To</th>
              <th>Subject</th>
              <th>Flow · step</th>
              <th>Kind</th>
            </tr>
          </thead>
          <tbody>
            {props.messages.map((m) => (
              <tr>
                <td>{m.sentAt ? formatTime(m.sentAt) : ""}</td>
                <td>{m.toEmail}</td>
                <td>
                  <a href={`/admin/mailbox/${encodeURIComponent(m.id)}`}>{m.subject ?? "(no subject)"}</a>
                </td>
                <td>{m.flowId ? `${m.flowId} · ${m.stepId ?? ""}` : ""}</td>
                <td>{m.kind}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

/** One mailbox message: its headers, HTML (framed, sandboxed) and text. */
export function MailboxMessagePage(props: { message: MessageRow; csrf: string }) {
  const m = props.message;
  return (
    <Layout title={m.subject ?? "Message"} section="/admin/mailbox" csrf={props.csrf}>
      <h1>{m.subject ?? "(no subject)"}</h1>
      <p class="muted">
        To {m.toEmail} · {m.sentAt ? formatTime(m.sentAt) : m.status} · {m.id}
      </p>
      <RenderedView
        email={{ subject: m.subject ?? "", from: m.fromEmail ?? "", text: m.text ?? "", headers: m.headers ?? {} }}
        frame={`/admin/mailbox/${encodeURIComponent(m.id)}/html`}
      />
    </Layout>
  );
}

/**
 * The flow editor's template picker: each template with its subject, a preview of the one
 * chosen (its subject rendered by `POST /v1/templates/:id/preview`, its HTML in the
 * dashboard's sandboxed, tracking-free frame), and "New template" — a minimal create in a
 * dialog through `PUT /v1/templates/:id`, without leaving the builder.
 */
import { useEffect, useState } from "preact/hooks";
import { type ApiIssue, callApi } from "./api";

/** A template as the picker lists it. */
export interface TemplateSummary {
  id: string;
  subject: string;
}

/** Props: the chosen id, the change handler, the known templates and how to add one to them. */
export interface TemplatePickerProps {
  value: string | undefined;
  onChange: (id: string | undefined) => void;
  label: string;
  /** The choice of no template of its own (an A/B variant that keeps the step's template), when there is one. */
  inherit?: string;
  templates: TemplateSummary[];
  onCreated: (template: TemplateSummary) => void;
}

/** A select of templates with the chosen one's preview and a "New template" dialog. */
export function TemplatePicker(props: TemplatePickerProps) {
  const [creating, setCreating] = useState(false);
  const [subject, setSubject] = useState<string | null>(null);
  const known = props.templates.some((t) => t.id === props.value);
  useEffect(() => {
    setSubject(null);
    if (!props.value || !known) return;
    let current = true;
    callApi<{ subject: string }>("POST", `/v1/templates/${encodeURIComponent(props.value)}/preview`, {}).then((r) => {
      if (current) setSubject(r.ok ? r.body.subject : null);
    });
    return () => {
      current = false;
    };
  }, [props.value, known]);
  return (
    <div class="template-picker">
      <label class="field">
        <span>{props.label}</span>
        <select
          aria-label={props.label}
          value={props.value ?? ""}
          onChange={(e) => {
            if (e.currentTarget.value === "+new") setCreating(true);
            else props.onChange(e.currentTarget.value || undefined);
          }}
        >
          {props.inherit ? <option value="">{props.inherit}</option> : null}
          {known || (props.inherit && !props.value) ? null : (
            <option value={props.value ?? ""}>{props.value ? `${props.value} (missing)` : "Choose a template…"}</option>
          )}
          {props.templates.map((t) => (
            <option key={t.id} value={t.id}>
              {t.id} — {t.subject}
            </option>
          ))}
          <option value="+new">New template…</option>
        </select>
      </label>
      {props.value && known ? (
        <div class="template-preview">
          <div class="muted">
            Subject: <strong>{subject ?? props.templates.find((t) => t.id === props.value)?.subject}</strong>
          </div>
          <iframe title={`Preview of ${props.value}`} src={`/admin/templates/${encodeURIComponent(props.value)}/render`} loading="lazy" />
        </div>
      ) : null}
      {creating ? (
        <NewTemplateDialog
          onClose={() => setCreating(false)}
          onCreated={(t) => {
            setCreating(false);
            props.onCreated(t);
            props.onChange(t.id);
          }}
        />
      ) : null}
    </div>
  );
}

function NewTemplateDialog(props: { onClose: () => void; onCreated: (t: TemplateSummary) => void }) {
  const [id, setId] = useState("");
  const [subject, setSubject] = useState("");
  const [html, setHtml] = useState("<p>Hi {{ contact.first_name | default: 'there' }},</p>\n<p></p>");
  const [problems, setProblems] = useState<ApiIssue[]>([]);
  const [message, setMessage] = useState("");
  const issue = (field: string) =>
    problems
      .filter((p) => p.path[0] === field)
      .map((p) => p.message)
      .join(" ");
  const create = async () => {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(id)) {
      setProblems([{ path: ["id"], message: "1-100 letters, digits, '.', '-' or '_'" }]);
      return;
    }
    const result = await callApi<{ id: string; subject: string }>("PUT", `/v1/templates/${encodeURIComponent(id)}`, { subject, html });
    if (result.ok) props.onCreated({ id: result.body.id, subject: result.body.subject });
    else {
      setProblems(result.problem.issues);
      setMessage(result.problem.message);
    }
  };
  return (
    <div class="dialog" role="dialog" aria-label="New template">
      <h3>New template</h3>
      <label class="field">
        <span>Id</span>
        <input aria-label="Template id" value={id} onInput={(e) => setId(e.currentTarget.value)} />
        <small class="error">{issue("id")}</small>
      </label>
      <label class="field">
        <span>Subject</span>
        <input aria-label="Template subject" value={subject} onInput={(e) => setSubject(e.currentTarget.value)} />
        <small class="error">{issue("subject")}</small>
      </label>
      <label class="field">
        <span>HTML (Liquid)</span>
        <textarea aria-label="Template HTML" rows={6} value={html} onInput={(e) => setHtml(e.currentTarget.value)} />
        <small class="error">{issue("html")}</small>
      </label>
      {message && problems.length === 0 ? <p class="error">{message}</p> : null}
      <div class="actions">
        <button type="button" class="primary" onClick={create}>
          Create template
        </button>
        <button type="button" onClick={props.onClose}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/**
 * The template editor's live preview: while the user types in the server-rendered form (#template-form), the unsaved
 * draft is rendered again after a short pause. Its HTML is posted into the sandboxed mail frame (the dashboard's
 * /admin/templates/:id/draft, answered with the mail frame's CSP and tracking neutralised); its subject, plain text and
 * Liquid problems come from POST /v1/templates/:id/preview with the draft, the API a script would use.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import { callApi } from "../api";
import { mountIsland } from "../mount";

/** How long typing must pause before the draft is rendered again. */
const DEBOUNCE_MS = 300;
const FIELDS = ["subject", "preheader", "from", "reply_to", "html", "text"] as const;
const FRAME_NAME = "template-draft";

interface Props {
  id: string;
  draftAction: string;
  csrf: string;
  contact: string;
}

interface Preview {
  subject: string;
  from: string;
  text: string;
}

function readDraft(form: HTMLFormElement): Record<(typeof FIELDS)[number], string> {
  const data = new FormData(form);
  return Object.fromEntries(FIELDS.map((f) => [f, String(data.get(f) ?? "")])) as Record<(typeof FIELDS)[number], string>;
}

function TemplatePreview(props: Props) {
  const frameForm = useRef<HTMLFormElement>(null);
  const [draft, setDraft] = useState<Record<string, string> | null>(null);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [renders, setRenders] = useState(0);

  useEffect(() => {
    const editor = document.getElementById("template-form") as HTMLFormElement | null;
    if (!editor) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refresh = () => setDraft(readDraft(editor));
    const onInput = () => {
      clearTimeout(timer);
      timer = setTimeout(refresh, DEBOUNCE_MS);
    };
    editor.addEventListener("input", onInput);
    refresh();
    return () => {
      clearTimeout(timer);
      editor.removeEventListener("input", onInput);
    };
  }, []);

  useEffect(() => {
    if (!draft) return;
    // The hidden form now holds the draft's values (rendered below); posting it loads the frame.
    frameForm.current?.submit();
    const optional = (v: string | undefined) => (v?.trim() ? v : null);
    const template = {
      subject: draft.subject ?? "",
      html: draft.html ?? "",
      text: optional(draft.text),
      from: optional(draft.from),
      reply_to: optional(draft.reply_to),
      preheader: optional(draft.preheader),
    };
    let current = true;
    void callApi<Preview>("POST", `/v1/templates/${encodeURIComponent(props.id)}/preview`, {
      template,
      ...(props.contact ? { contact: props.contact } : {}),
    }).then((answer) => {
      if (!current) return;
      setRenders((n) => n + 1);
      if (answer.ok) {
        setPreview(answer.body);
        setProblems([]);
      } else {
        const issues = answer.problem.issues.map((i) => `${i.path.filter((p) => p !== "template").join(".")}: ${i.message}`);
        setProblems(issues.length > 0 ? issues : [answer.problem.message]);
      }
    });
    return () => {
      current = false;
    };
  }, [draft]);

  return (
    <div class="rendered" data-renders={renders}>
      <p class="muted">Live preview of the unsaved draft{props.contact ? ` for ${props.contact}` : " for the sample contact"}.</p>
      {problems.length > 0 && (
        <ul class="error" id="live-problems">
          {problems.map((p) => (
            <li>{p}</li>
          ))}
        </ul>
      )}
      <table>
        <tbody>
          <tr>
            <th>Subject</th>
            <td id="live-subject">{preview?.subject ?? ""}</td>
          </tr>
          <tr>
            <th>From</th>
            <td>{preview?.from ?? ""}</td>
          </tr>
        </tbody>
      </table>
      <form ref={frameForm} method="post" action={props.draftAction} target={FRAME_NAME} hidden>
        <input type="hidden" name="_csrf" value={props.csrf} />
        <input type="hidden" name="contact" value={props.contact} />
        {FIELDS.map((f) => (
          <input type="hidden" name={f} value={draft?.[f] ?? ""} />
        ))}
      </form>
      <iframe title="HTML part (live)" name={FRAME_NAME} sandbox="allow-popups allow-popups-to-escape-sandbox" class="mail" />
      <h2>Plain text</h2>
      <pre class="mail-text" id="live-text">
        {preview?.text ?? ""}
      </pre>
    </div>
  );
}

mountIsland("template-preview", TemplatePreview);

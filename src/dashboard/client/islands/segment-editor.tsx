/**
 * The segment editor at /admin/segments/new and /admin/segments/:id: the condition builder
 * with the members it matches now, counted as the user edits (`POST /v1/segments/preview`,
 * the same SQL compiler as the saved segment's member list, bounded), the first of them
 * listed; Save is `PUT /v1/segments/:id`, its problems shown on the row they name.
 */
import { useEffect, useRef, useState } from "preact/hooks";
import type { Condition } from "../../../flows/schema";
import { type ApiIssue, callApi } from "../api";
import { ConditionBuilder } from "../condition-builder";
import { mountIsland } from "../mount";
import { FieldProblems } from "../schema-form";
import { slug } from "../slug";

interface SegmentEditorProps {
  segmentId: string | null;
  name: string;
  condition: Condition | null;
}

interface Preview {
  count: number;
  capped: boolean;
  contacts: { id: string; email: string; first_name: string | null }[];
}

const STARTER: Condition = { all: [{ tag: "vip" }] };

function SegmentEditor(props: SegmentEditorProps) {
  const [name, setName] = useState(props.name);
  const [typedId, setTypedId] = useState("");
  const [savedId, setSavedId] = useState(props.segmentId);
  const [condition, setCondition] = useState<Condition>(props.condition ?? STARTER);
  const [preview, setPreview] = useState<Preview | null>(null);
  const [problems, setProblems] = useState<ApiIssue[]>([]);
  const [notice, setNotice] = useState<{ text: string; error?: boolean } | null>(null);
  const turns = useRef(0);
  const id = savedId ?? (typedId || slug(name || "segment"));

  // The count follows every change; an answer to an older condition is dropped.
  useEffect(() => {
    const turn = ++turns.current;
    const timer = setTimeout(async () => {
      const result = await callApi<Preview>("POST", "/v1/segments/preview", { condition });
      if (turn !== turns.current) return;
      if (result.ok) {
        setPreview(result.body);
        setProblems([]);
      } else {
        setPreview(null);
        setProblems(result.problem.issues.map((i) => ({ ...i, path: i.path.slice(1) })));
      }
    }, 300);
    return () => clearTimeout(timer);
  }, [condition]);

  const save = async () => {
    const result = await callApi<{ id: string }>("PUT", `/v1/segments/${encodeURIComponent(id)}`, { name, condition });
    if (!result.ok) {
      setProblems(result.problem.issues.filter((i) => i.path[0] === "condition").map((i) => ({ ...i, path: i.path.slice(1) })));
      setNotice({
        text: `Not saved: ${result.problem.issues.find((i) => i.path[0] === "name")?.message ?? result.problem.message}`,
        error: true,
      });
      return;
    }
    setSavedId(result.body.id);
    setNotice({ text: "Saved." });
    if (!props.segmentId) history.replaceState(null, "", `/admin/segments/${encodeURIComponent(result.body.id)}`);
  };

  return (
    <div class="segment-editor">
      <div>
        <div class="toolbar">
          <label class="field inline">
            <span>Name</span>
            <input aria-label="Segment name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </label>
          {savedId ? (
            <code>{savedId}</code>
          ) : (
            <label class="field inline">
              <span>Id</span>
              <input aria-label="Segment id" value={id} onInput={(e) => setTypedId(e.currentTarget.value)} />
            </label>
          )}
          <button type="button" class="primary" onClick={save}>
            Save
          </button>
        </div>
        {notice ? (
          <p class={notice.error ? "notice error" : "notice"} role="status">
            {notice.text}
          </p>
        ) : null}
        <ConditionBuilder value={condition} onChange={setCondition} problems={problems} eventProperties={false} label="Segment condition" />
        <FieldProblems problems={problems} path={[]} />
      </div>
      <aside class="panel" aria-label="Members">
        <div class="muted">Contacts matching now</div>
        <div class="count" data-testid="segment-count">
          {preview ? `${preview.count.toLocaleString("en")}${preview.capped ? "+" : ""}` : "…"}
        </div>
        {preview && preview.contacts.length > 0 ? (
          <table>
            <tbody>
              {preview.contacts.map((c) => (
                <tr key={c.id}>
                  <td>
                    <a href={`/admin/contacts/${encodeURIComponent(c.id)}`}>{c.email}</a>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </aside>
    </div>
  );
}

mountIsland("segment-editor", SegmentEditor);

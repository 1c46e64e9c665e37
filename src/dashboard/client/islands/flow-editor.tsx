/**
 * The visual flow editor at /admin/flows/new and /admin/flows/:id/edit: the flow as a
 * graph (client/flow-graph.ts), "+" on every edge to add a step of any type, a side
 * panel per node whose fields come from the flow schema (client/schema-form.tsx), the
 * trigger and the flow's rules. Every change is checked by `POST /v1/flows/:id/validate`
 * (the PUT's own schema and graph checks, nothing saved) and each problem is shown on the
 * node and field it names; Save is `PUT /v1/flows/:id`, a new version each time.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { Condition, Step } from "../../../flows/schema";
import { type ApiIssue, callApi } from "../api";
import {
  addSplitPath,
  ancestorsOf,
  type Draft,
  deleteStep,
  type EditResult,
  END_NODE,
  edgesOf,
  insertStep,
  layout,
  NODE,
  type PlacedEdge,
  removeSplitPath,
  retarget,
  STEP_TYPES,
  type StepType,
  type Target,
  TRIGGER,
  updateStep,
} from "../flow-graph";
import { mountIsland } from "../mount";
import { FieldProblems, humanize, type JsonSchema, ObjectFields, type Path, Field as SchemaField } from "../schema-form";
import { slug } from "../slug";
import { TemplatePicker, type TemplateSummary } from "../template-picker";

/** What the server page passes: the stored flow (or none), the templates, and the Flow schema as JSON Schema. */
interface FlowEditorProps {
  flowId: string | null;
  status: "draft" | "active" | "paused" | null;
  version: number | null;
  definition: Draft | null;
  templates: TemplateSummary[];
  schema: JsonSchema;
}

/** What `POST /v1/flows/:id/impact` answers: saving the draft's effect on the contacts running now. */
interface EditImpact {
  running: number;
  on_removed_steps: { step: string; contacts: number }[];
  affected: number;
  summary: string;
}

const RULES = "rules";
const EMPTY: Draft = { name: "New flow", trigger: { event: "subscribed" }, steps: [] };
const GRAPH_FIELDS: ReadonlySet<string> = new Set(["id", "type", "next", "then", "else", "paths"]);
const FLOW_OWN_FIELDS: ReadonlySet<string> = new Set(["id", "trigger", "steps"]);
const TYPE_LABELS: Record<StepType, string> = {
  email: "Email",
  wait: "Wait",
  wait_for: "Wait for event",
  branch: "Branch",
  split: "Split",
  update: "Update contact",
  notify: "Notify",
  webhook: "Webhook",
  exit: "Exit",
};

function summary(step: Step): string {
  switch (step.type) {
    case "email":
      return step.variants ? `A/B test of ${step.variants.length} variants` : (step.template ?? "no template yet");
    case "wait":
      if (step.for) return `for ${step.for}`;
      if (step.until) return `until ${step.until.time}${step.until.weekdays ? ` on ${step.until.weekdays.join(", ")}` : ""}`;
      if (step.until_attribute) return `until ${step.until_attribute.attribute} ${step.until_attribute.offset ?? ""}`;
      return step.for_property ? `${step.for_property.property} ${step.for_property.unit}` : "";
    case "wait_for":
      return `${step.event}${step.of ? ` of ${step.of}` : ""}, up to ${step.timeout}`;
    case "branch":
      return `if ${conditionSummary(step.if)}`;
    case "split":
      return `${step.paths.length} paths`;
    case "notify":
      return step.to ?? step.to_attribute ?? "";
    case "webhook":
      return step.url;
    default:
      return step.name ?? "";
  }
}

/**
 * An edge's label a little way along its first segment, clear of the "+" at its middle, on the
 * outer side of the line (left of an edge leaving the node's left half): two edges to the same
 * step run close together, and labels between them would overlap.
 */
function EdgeLabel(props: { points: { x: number; y: number }[]; text: string; sourceX: number }) {
  const [a, b] = props.points;
  if (!a || !b) return null;
  const left = a.x < props.sourceX;
  const x = a.x + (b.x - a.x) * 0.4;
  return (
    <text class="edge-label" x={left ? x - 6 : x + 6} y={a.y + (b.y - a.y) * 0.4 + 4} text-anchor={left ? "end" : "start"}>
      {props.text}
    </text>
  );
}

/** A condition in a few words, for a branch's node. */
function conditionSummary(c: Condition): string {
  if ("all" in c) return c.all.map(conditionSummary).join(" and ");
  if ("any" in c) return c.any.map(conditionSummary).join(" or ");
  if ("not" in c) return `not (${conditionSummary(c.not)})`;
  if ("tag" in c) return `tag ${c.tag}`;
  if ("attr" in c) return `${c.attr} ${c.op} ${JSON.stringify(c.value ?? "")}`;
  if ("prop" in c) return `${c.prop} ${c.op} ${JSON.stringify(c.value ?? "")}`;
  return `did ${c.event}${c.within ? ` in ${c.within}` : ""}`;
}

function triggerSummary(trigger: Draft["trigger"]): string {
  const [kind, value] = Object.entries(trigger)[0] ?? ["", ""];
  const shown =
    typeof value === "string"
      ? value
      : Array.isArray(value)
        ? value.join(" or ")
        : kind === "date"
          ? (value as { attribute: string }).attribute
          : "";
  return `${humanize(kind)}: ${shown}`;
}

const contacts = (n: number) => `${n} running contact${n === 1 ? "" : "s"}`;

/** "12 running contacts; 3 sit on steps this would remove: nudge (3)". */
function impactSentence(impact: EditImpact): string {
  if (impact.affected === 0) return `${contacts(impact.running)}; none sits on a step this would remove.`;
  const where = impact.on_removed_steps.map((s) => `${s.step} (${s.contacts})`).join(", ");
  const steps = impact.on_removed_steps.length === 1 ? "a step" : "steps";
  return `${contacts(impact.running)}; ${impact.affected} ${impact.affected === 1 ? "sits" : "sit"} on ${steps} this would remove: ${where}. They leave the flow (reason: step removed).`;
}

const LEAVE_UNSAVED = "This flow has unsaved changes. Leave without saving them?";

function stepIndexOfIssue(issue: ApiIssue): number | null {
  return issue.path[0] === "steps" && typeof issue.path[1] === "number" ? issue.path[1] : null;
}

function FlowEditor(props: FlowEditorProps) {
  const [draft, setDraft] = useState<Draft>(props.definition ?? EMPTY);
  const [flowId, setFlowId] = useState(props.flowId ?? "");
  const [saved, setSaved] = useState({ status: props.status, version: props.version, dirty: false, name: props.definition?.name ?? null });
  const [pendingImpact, setPendingImpact] = useState<EditImpact | null>(null);
  const [selected, setSelected] = useState<string | null>(props.definition ? null : TRIGGER);
  const [problems, setProblems] = useState<ApiIssue[]>([]);
  const [adding, setAdding] = useState<PlacedEdge | null>(null);
  const [notice, setNotice] = useState<{ text: string; error?: boolean } | null>(null);
  const [templates, setTemplates] = useState(props.templates);
  const checks = useRef(0);

  const id = props.flowId ?? (flowId || slug(draft.name));
  const stepSchemas = props.schema.properties?.steps?.items?.oneOf ?? [];

  // Every change is checked as PUT would check it; a late answer to an older draft is dropped.
  useEffect(() => {
    const turn = ++checks.current;
    const timer = setTimeout(async () => {
      const result = await callApi("POST", `/v1/flows/${encodeURIComponent(id)}/validate`, draft);
      if (turn !== checks.current) return;
      setProblems(result.ok ? [] : result.problem.status === 422 ? result.problem.issues : [{ path: [], message: result.problem.message }]);
    }, 400);
    return () => clearTimeout(timer);
  }, [draft, id]);

  // Unsaved changes: the browser asks before the tab closes or reloads; links in the dashboard ask in words.
  useEffect(() => {
    if (!saved.dirty) return;
    let leaving = false;
    const beforeUnload = (e: BeforeUnloadEvent) => {
      if (leaving) return;
      e.preventDefault();
      e.returnValue = LEAVE_UNSAVED;
    };
    const click = (e: MouseEvent) => {
      const link = (e.target as Element | null)?.closest?.("a[href]");
      if (!link || link.getAttribute("target") === "_blank") return;
      if (confirm(LEAVE_UNSAVED)) leaving = true;
      else e.preventDefault();
    };
    addEventListener("beforeunload", beforeUnload);
    document.addEventListener("click", click, true);
    return () => {
      removeEventListener("beforeunload", beforeUnload);
      document.removeEventListener("click", click, true);
    };
  }, [saved.dirty]);

  const apply = (result: EditResult) => {
    if (!result.ok) {
      setNotice({ text: result.reason, error: true });
      return;
    }
    setDraft(result.draft);
    setSaved((s) => ({ ...s, dirty: true }));
    setPendingImpact(null);
    setNotice(result.removed.length > 0 ? { text: `Removed steps nothing led to any more: ${result.removed.join(", ")}.` } : null);
    if (selected && !result.draft.steps.some((s) => s.id === selected) && selected !== TRIGGER && selected !== RULES) setSelected(null);
  };
  const change = (next: Draft) => {
    setDraft(next);
    setSaved((s) => ({ ...s, dirty: true }));
    // The impact shown was for the draft before this change.
    setPendingImpact(null);
  };

  const put = async () => {
    setPendingImpact(null);
    const result = await callApi<{ id: string; version: number; status: "draft" | "active" | "paused" }>(
      "PUT",
      `/v1/flows/${encodeURIComponent(id)}`,
      draft,
    );
    if (!result.ok) {
      setProblems(result.problem.issues);
      setNotice({ text: `Not saved: ${result.problem.message}.`, error: true });
      return;
    }
    setSaved({ status: result.body.status, version: result.body.version, dirty: false, name: draft.name });
    setFlowId(result.body.id);
    setNotice({ text: `Saved as version ${result.body.version}.` });
    document.title = `Edit ${draft.name} · Nurture`;
    if (!props.flowId) history.replaceState(null, "", `/admin/flows/${encodeURIComponent(result.body.id)}/edit`);
  };
  const save = async () => {
    if (saved.version === null) {
      // A new flow must not replace a stored one that happens to have the same id.
      const existing = await callApi("GET", `/v1/flows/${encodeURIComponent(id)}`);
      if (existing.ok) {
        setNotice({ text: `A flow with id "${id}" exists already: choose another id.`, error: true });
        return;
      }
    }
    if (saved.status !== "active") return put();
    // Contacts are running through an active flow: say what the change does to them before it is made.
    const impact = await callApi<EditImpact>("POST", `/v1/flows/${encodeURIComponent(id)}/impact`, draft);
    if (!impact.ok) {
      setProblems(impact.problem.issues);
      setNotice({ text: `Not saved: ${impact.problem.message}.`, error: true });
      return;
    }
    setNotice(null);
    setPendingImpact(impact.body);
  };
  const switchStatus = async (to: "activate" | "pause") => {
    const result = await callApi<{ status: "active" | "paused" }>("POST", `/v1/flows/${encodeURIComponent(id)}/${to}`);
    if (result.ok) {
      setSaved((s) => ({ ...s, status: result.body.status }));
      setNotice({ text: result.body.status === "active" ? "Active: new contacts enter now." : "Paused." });
    } else setNotice({ text: result.problem.message, error: true });
  };

  const placed = useMemo(() => layout(draft), [draft]);
  const issuesByStep = new Map<number, ApiIssue[]>();
  for (const issue of problems) {
    const i = stepIndexOfIssue(issue);
    if (i !== null) issuesByStep.set(i, [...(issuesByStep.get(i) ?? []), issue]);
  }
  const triggerIssues = problems.filter((p) => p.path[0] === "trigger");
  const ruleIssues = problems.filter((p) => stepIndexOfIssue(p) === null && p.path[0] !== "trigger");
  const isNew = saved.version === null;

  return (
    <div class="flow-editor">
      <h1>
        {saved.name === null ? "New flow" : `Edit ${saved.name}`}
        {saved.version === null ? null : (
          <>
            {" "}
            <a href={`/admin/flows/${encodeURIComponent(id)}`}>back to the flow's numbers</a>
          </>
        )}
      </h1>
      <div class="toolbar">
        <label class="field inline">
          <span>Name</span>
          <input aria-label="Flow name" value={draft.name} onInput={(e) => change({ ...draft, name: e.currentTarget.value })} />
        </label>
        {isNew && !props.flowId ? (
          <label class="field inline">
            <span>Id</span>
            <input aria-label="Flow id" value={id} onInput={(e) => setFlowId(e.currentTarget.value)} />
          </label>
        ) : (
          <span class="muted">
            {id} · version {saved.version} · <span class={`badge ${saved.status ?? ""}`}>{saved.status}</span>
          </span>
        )}
        <button type="button" onClick={() => setSelected(RULES)} aria-pressed={selected === RULES}>
          Rules{ruleIssues.length > 0 ? ` (${ruleIssues.length})` : ""}
        </button>
        <button type="button" class="primary" onClick={save}>
          {saved.dirty || isNew ? "Save" : "Save (no changes)"}
        </button>
        {saved.status && saved.status !== "active" ? (
          <button type="button" onClick={() => switchStatus("activate")} disabled={saved.dirty}>
            Activate
          </button>
        ) : null}
        {saved.status === "active" ? (
          <button type="button" onClick={() => switchStatus("pause")}>
            Pause
          </button>
        ) : null}
        <span class={problems.length > 0 ? "error" : "ok"} data-testid="problem-count">
          {problems.length > 0 ? `${problems.length} problem${problems.length === 1 ? "" : "s"}` : "No problems"}
        </span>
      </div>
      {pendingImpact ? (
        <div class="impact-confirm" role="alertdialog" aria-label="Save an active flow">
          <p class={pendingImpact.affected > 0 ? "error" : ""}>This flow is active: {impactSentence(pendingImpact)}</p>
          <p class="muted">Changes: {pendingImpact.summary}.</p>
          <button type="button" class="primary" onClick={put}>
            Save anyway
          </button>{" "}
          <button type="button" onClick={() => setPendingImpact(null)}>
            Cancel
          </button>
        </div>
      ) : null}
      {notice ? (
        <p class={notice.error ? "notice error" : "notice"} role="status">
          {notice.text}
        </p>
      ) : null}
      <div class="workspace">
        <div class="canvas" style={{ width: `${placed.width}px`, height: `${placed.height}px` }}>
          <svg width={placed.width} height={placed.height} aria-hidden="true">
            <defs>
              <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                <path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b" />
              </marker>
            </defs>
            {placed.edges.map((e) => (
              <g key={`${e.from}.${e.field.join(".")}`}>
                <path class="edge" fill="none" marker-end="url(#arrow)" d={`M ${e.points.map((p) => `${p.x} ${p.y}`).join(" L ")}`} />
                {e.label ? (
                  <EdgeLabel points={e.points} text={e.label} sourceX={placed.nodes.find((n) => n.id === e.from)?.x ?? 0} />
                ) : null}
              </g>
            ))}
          </svg>
          {placed.nodes.map((n) => {
            const left = n.x - NODE.width / 2;
            if (n.id === END_NODE) {
              return (
                <div key={n.id} class="node end" style={{ left: `${left}px`, top: `${n.y - 18}px` }}>
                  End
                </div>
              );
            }
            const index = draft.steps.findIndex((s) => s.id === n.id);
            const step = draft.steps[index];
            const issues = n.id === TRIGGER ? triggerIssues : (issuesByStep.get(index) ?? []);
            return (
              <button
                type="button"
                key={n.id}
                data-node={n.id}
                class={`node ${step ? `step-${step.type}` : "trigger"}${issues.length > 0 ? " invalid" : ""}${selected === n.id ? " selected" : ""}`}
                style={{ left: `${left}px`, top: `${n.y - NODE.height / 2}px` }}
                onClick={() => setSelected(n.id)}
                title={issues.length > 0 ? issues.map((i) => i.message).join("\n") : step ? summary(step) : triggerSummary(draft.trigger)}
              >
                <b>{step ? TYPE_LABELS[step.type] : "Trigger"}</b>
                <span>{step ? (step.name ?? step.id) : triggerSummary(draft.trigger)}</span>
                <small>{step ? summary(step) : ""}</small>
                {issues.length > 0 ? <i class="node-problem">{issues[0]?.message}</i> : null}
              </button>
            );
          })}
          {placed.edges.map((e) => (
            <button
              type="button"
              key={`+${e.from}.${e.field.join(".")}`}
              class="add-step"
              data-edge={`${e.from}.${e.field.join(".")}`}
              aria-label={`Add a step after ${e.from}${e.label ? ` (${e.label})` : ""}`}
              style={{ left: `${e.mid.x - 12}px`, top: `${e.mid.y - 12}px` }}
              onClick={() => setAdding(e)}
            >
              +
            </button>
          ))}
          {adding ? (
            <div class="step-menu" role="menu" style={{ left: `${adding.mid.x + 16}px`, top: `${adding.mid.y - 12}px` }}>
              {STEP_TYPES.map((t) => (
                <button
                  type="button"
                  role="menuitem"
                  key={t}
                  onClick={() => {
                    const result = insertStep(draft, adding, t);
                    setAdding(null);
                    apply(result);
                    if (result.ok)
                      setSelected(result.draft.steps.find((s) => !draft.steps.some((o) => o.id === s.id) && s.type === t)?.id ?? null);
                  }}
                >
                  {TYPE_LABELS[t]}
                </button>
              ))}
              <button type="button" onClick={() => setAdding(null)}>
                Cancel
              </button>
            </div>
          ) : null}
        </div>
        <aside class="panel" aria-label="Side panel">
          {selected === TRIGGER ? (
            <TriggerPanel draft={draft} schema={props.schema} problems={problems} onChange={change} />
          ) : selected === RULES ? (
            <RulesPanel draft={draft} schema={props.schema} problems={problems} onChange={change} templates={templates} />
          ) : selected && draft.steps.some((s) => s.id === selected) ? (
            <StepPanel
              key={selected}
              draft={draft}
              stepId={selected}
              stepSchemas={stepSchemas}
              problems={problems}
              templates={templates}
              onTemplateCreated={(t) => setTemplates((all) => [...all.filter((x) => x.id !== t.id), t])}
              onChange={change}
              onEdit={apply}
            />
          ) : (
            <p class="muted">Click the trigger or a step to edit it; "+" on an arrow adds a step there.</p>
          )}
          {ruleIssues.length > 0 && selected !== RULES ? (
            <div class="problems-summary">
              <b>Flow problems</b>
              <ul class="problems">
                {ruleIssues.map((p) => (
                  <li key={`${p.path.join(".")}:${p.message}`}>
                    {p.path.join(".") || "flow"}: {p.message}
                  </li>
                ))}
              </ul>
            </div>
          ) : null}
        </aside>
      </div>
    </div>
  );
}

/** A variant's template is its own or, left empty, the step's. */
const isVariantTemplate = (path: Path) => path.at(-3) === "variants" && path.at(-1) === "template";

function pickerFor(templates: TemplateSummary[], onCreated: (t: TemplateSummary) => void) {
  return (p: { value: string | undefined; onChange: (v: string | undefined) => void; label: string; path: Path }) => (
    <TemplatePicker
      value={p.value}
      onChange={p.onChange}
      label={p.label}
      templates={templates}
      onCreated={onCreated}
      inherit={isVariantTemplate(p.path) ? "Same as the step's template" : undefined}
    />
  );
}

/** An A/B variant's row names the subject its recipients see: its own, else its template's, else the step's. */
function variantLabel(step: Step, templates: TemplateSummary[]) {
  return (listPath: Path, item: unknown, index: number): string | undefined => {
    if (listPath.at(-1) !== "variants" || step.type !== "email") return undefined;
    const variant = item as { template?: string; subject?: string };
    const template = variant.template ?? step.template;
    const subject = variant.subject ?? templates.find((t) => t.id === template)?.subject;
    return `Variant ${String.fromCharCode(65 + index)}: ${subject ? `“${subject}”` : "no subject yet"}`;
  };
}

function TriggerPanel(props: { draft: Draft; schema: JsonSchema; problems: ApiIssue[]; onChange: (d: Draft) => void }) {
  const schema = props.schema.properties?.trigger ?? {};
  return (
    <section>
      <h2>Trigger</h2>
      <p class="muted">What starts this flow for a contact.</p>
      <SchemaField
        schema={schema}
        value={props.draft.trigger}
        name="starts_on"
        path={["trigger"]}
        onChange={(trigger) => props.onChange({ ...props.draft, trigger: trigger as Draft["trigger"] })}
        ctx={{ problems: props.problems, hidden: new Set(), templateField: pickerFor([], () => {}), emailSteps: [] }}
      />
    </section>
  );
}

function RulesPanel(props: {
  draft: Draft;
  schema: JsonSchema;
  problems: ApiIssue[];
  templates: TemplateSummary[];
  onChange: (d: Draft) => void;
}) {
  const { steps, trigger, ...rules } = props.draft;
  return (
    <section>
      <h2>Rules</h2>
      <p class="muted">Re-entry, exit events, the goal, quiet hours, time zone, frequency cap and whether the flow is transactional.</p>
      <ObjectFields
        schema={props.schema}
        value={rules}
        path={[]}
        onChange={(next) => props.onChange({ ...(next as Omit<Draft, "steps" | "trigger">), trigger, steps } as Draft)}
        ctx={{ problems: props.problems, hidden: FLOW_OWN_FIELDS, templateField: pickerFor(props.templates, () => {}), emailSteps: [] }}
      />
    </section>
  );
}

function StepPanel(props: {
  draft: Draft;
  stepId: string;
  stepSchemas: JsonSchema[];
  problems: ApiIssue[];
  templates: TemplateSummary[];
  onTemplateCreated: (t: TemplateSummary) => void;
  onChange: (d: Draft) => void;
  onEdit: (r: EditResult) => void;
}) {
  const { draft, stepId } = props;
  const index = draft.steps.findIndex((s) => s.id === stepId);
  const step = draft.steps[index] as Step;
  const schema = props.stepSchemas.find((s) => s.properties?.type?.const === step.type) ?? {};
  const path = ["steps", index];
  const exits = edgesOf(draft).filter((e) => e.from === stepId);
  const loops = ancestorsOf(draft, stepId);
  const emailSteps = draft.steps.filter((s) => s.type === "email").map((s) => s.id);
  return (
    <section data-panel={stepId}>
      <h2>
        {TYPE_LABELS[step.type]} <code>{step.id}</code>
      </h2>
      <ObjectFields
        schema={schema}
        value={step as unknown as Record<string, unknown>}
        path={path}
        onChange={(next) => props.onChange(updateStep(draft, next as unknown as Step))}
        ctx={{
          problems: props.problems,
          hidden: GRAPH_FIELDS,
          templateField: pickerFor(props.templates, props.onTemplateCreated),
          itemLabel: variantLabel(step, props.templates),
          emailSteps,
        }}
      />
      {step.type === "split" ? (
        <fieldset class="list">
          <legend>Paths</legend>
          {step.paths.map((p, i) => (
            <div class="list-item" key={i}>
              <label class="field inline">
                <span>Weight of path {i + 1}</span>
                <input
                  aria-label={`Weight of path ${i + 1}`}
                  type="number"
                  min={1}
                  value={p.weight}
                  onInput={(e) =>
                    props.onChange(
                      updateStep(draft, {
                        ...step,
                        paths: step.paths.map((x, j) => (j === i ? { ...x, weight: Number(e.currentTarget.value) } : x)),
                      }),
                    )
                  }
                />
              </label>
              {step.paths.length > 2 ? (
                <button
                  type="button"
                  class="remove"
                  aria-label={`Remove path ${i + 1}`}
                  onClick={() => props.onEdit(removeSplitPath(draft, stepId, i))}
                >
                  ×
                </button>
              ) : null}
              <FieldProblems problems={props.problems} path={[...path, "paths", i, "weight"]} />
            </div>
          ))}
          {step.paths.length < 10 ? (
            <button type="button" onClick={() => props.onEdit(addSplitPath(draft, stepId))}>
              + Path
            </button>
          ) : null}
        </fieldset>
      ) : null}
      {exits.length > 0 ? (
        <fieldset class="list">
          <legend>Goes to</legend>
          {exits.map((e) => (
            <label class="field" key={e.field.join(".")}>
              <span>{e.label ? humanize(e.label) : "Next"}</span>
              <select
                aria-label={`${e.label || "next"} goes to`}
                value={e.target ?? ""}
                onChange={(ev) => props.onEdit(retarget(draft, stepId, e.field, (ev.currentTarget.value || null) as Target))}
              >
                <option value="">End of flow</option>
                {draft.steps
                  .filter((s) => !loops.has(s.id) || s.id === e.target)
                  .map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.id} ({TYPE_LABELS[s.type]})
                    </option>
                  ))}
              </select>
              <FieldProblems problems={props.problems} path={[...path, ...e.field]} />
            </label>
          ))}
        </fieldset>
      ) : null}
      <button type="button" class="danger" onClick={() => props.onEdit(deleteStep(draft, stepId))}>
        Delete step
      </button>
    </section>
  );
}

mountIsland("flow-editor", FlowEditor);

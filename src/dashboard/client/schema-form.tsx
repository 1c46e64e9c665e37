/**
 * Form fields drawn from the flow schema itself: the server sends the zod Flow schema as
 * JSON Schema (conditions marked `x-widget: condition`), and these fields render any shape
 * in it: objects (optional parts added and removed), unions (a picker of their forms),
 * lists, records, enums, numbers, booleans, text. So the trigger picker, every step's side
 * panel and the flow's rules follow the schema: a field the schema gains appears here with
 * no editor change. Only what is not plain data has a widget: conditions, templates, and
 * the email a wait_for watches.
 */
import type { ComponentChildren, JSX } from "preact";
import type { ApiIssue } from "./api";
import { ConditionBuilder } from "./condition-builder";

/** The part of JSON Schema (2020-12, as zod's toJSONSchema writes it) these fields read. */
export interface JsonSchema {
  type?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  maxItems?: number;
  "x-widget"?: string;
}

/** Where a value sits in the flow, as the API's issues name it. */
export type Path = (string | number)[];

/** What fields need beyond their schema: the issues to show, and the widgets for templates and watched emails. */
export interface FormContext {
  problems: ApiIssue[];
  /** Property names drawn elsewhere (the canvas draws next/then/else). */
  hidden: ReadonlySet<string>;
  templateField: (props: {
    value: string | undefined;
    onChange: (v: string | undefined) => void;
    label: string;
    path: Path;
  }) => JSX.Element;
  /** A list item's own label (an email variant named by its subject) instead of "<list> <n>". */
  itemLabel?: (listPath: Path, item: unknown, index: number) => string | undefined;
  /** Email step ids a wait_for may watch. */
  emailSteps: string[];
}

/** Optional properties drawn even when absent: choosing a template is the point of an email step, not an extra. */
const ALWAYS_SHOWN: ReadonlySet<string> = new Set(["template"]);

/** "quiet_hours" → "Quiet hours". */
export function humanize(name: string): string {
  const words = name.replaceAll("_", " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const samePath = (a: Path, b: Path) => a.length === b.length && a.every((p, i) => p === b[i]);
const under = (path: Path, root: Path) => root.every((p, i) => path[i] === p);

/** The issues at exactly `path`, as a list under the field. */
export function FieldProblems(props: { problems: ApiIssue[]; path: Path }) {
  const mine = props.problems.filter((p) => samePath(p.path, props.path));
  if (mine.length === 0) return null;
  return (
    <ul class="problems">
      {mine.map((p) => (
        <li key={p.message}>{p.message}</li>
      ))}
    </ul>
  );
}

/** A JSON value from text: JSON when it parses as JSON, else the text itself. */
function parseJsonish(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const isDuration = (s: JsonSchema) => s.pattern?.includes("(s|m|h|d|w)") && !s.pattern.includes("[+-]");
const isOffset = (s: JsonSchema) => s.pattern?.includes("[+-]");
const isTime = (s: JsonSchema) => s.pattern?.includes("[01]\\d");

/** A value that satisfies a schema's shape, for a part the user adds. */
export function defaultFor(schema: JsonSchema): unknown {
  if (schema["x-widget"] === "condition") return { attr: "lifecycle_stage", op: "eq", value: "customer" };
  if (schema.anyOf?.[0]) return defaultFor(schema.anyOf[0]);
  if (schema.enum) return schema.enum[0];
  switch (schema.type) {
    case "object":
      return Object.fromEntries((schema.required ?? []).map((k) => [k, defaultFor(schema.properties?.[k] ?? {})]));
    case "array":
      return Array.from({ length: schema.minItems ?? 0 }, () => defaultFor(schema.items ?? {}));
    case "number":
    case "integer":
      return schema.minimum ?? (schema.exclusiveMinimum !== undefined ? 50 : 1);
    case "boolean":
      return true;
    case "string":
      if (isDuration(schema)) return "1d";
      if (isOffset(schema)) return "0d";
      if (isTime(schema)) return "09:00";
      return "";
    default:
      return "";
  }
}

function placeholderFor(schema: JsonSchema): string | undefined {
  if (isDuration(schema)) return "30m, 2h, 3d, 1w";
  if (isOffset(schema)) return "-30d, 0d, 2h";
  if (isTime(schema)) return "HH:MM";
  if (schema.format === "email") return "name@example.com";
  if (schema.format === "uri") return "https://";
  return undefined;
}

/** True when `value` has the shape of one form of a union. */
function matches(schema: JsonSchema, value: unknown): boolean {
  if (schema.enum) return schema.enum.includes(value);
  if (schema.type === "array") return Array.isArray(value);
  if (schema.type === "object") {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
    const keys = Object.keys(value);
    return (schema.required ?? []).every((k) => keys.includes(k)) && keys.every((k) => !schema.properties || k in schema.properties);
  }
  if (schema.type === "string") return typeof value === "string";
  if (schema.type === "number" || schema.type === "integer") return typeof value === "number";
  return false;
}

function formLabel(schema: JsonSchema): string {
  if (schema.type === "object") return humanize(schema.required?.[0] ?? "settings");
  if (schema.type === "array") return "list";
  return schema.type ?? "value";
}

/** One field of any schema. */
export function Field(props: {
  schema: JsonSchema;
  value: unknown;
  onChange: (value: unknown) => void;
  path: Path;
  name: string;
  /** Shown instead of the humanized name. */
  label?: string;
  ctx: FormContext;
}): JSX.Element {
  const { schema, value, onChange, path, name, ctx } = props;
  const label = props.label ?? humanize(name);
  const problems = <FieldProblems problems={ctx.problems} path={path} />;
  if (schema["x-widget"] === "condition") {
    const inner = ctx.problems.filter((p) => under(p.path, path)).map((p) => ({ ...p, path: p.path.slice(path.length) }));
    return <ConditionBuilder value={value as never} onChange={onChange} problems={inner} label={label} eventProperties />;
  }
  if (schema.anyOf) return <UnionField {...props} />;
  if (name === "template" && schema.type === "string") {
    return (
      <>
        {ctx.templateField({ value: value as string | undefined, onChange, label, path })}
        {problems}
      </>
    );
  }
  if (name === "of" && schema.type === "string") {
    return (
      <Labelled label="Of the email sent by">
        <select aria-label={label} value={(value as string) ?? ""} onChange={(e) => onChange(e.currentTarget.value)}>
          {ctx.emailSteps.map((id) => (
            <option key={id} value={id}>
              {id}
            </option>
          ))}
        </select>
        {problems}
      </Labelled>
    );
  }
  if (schema.type === "object" && schema.properties) {
    return (
      <fieldset>
        <legend>{label}</legend>
        <ObjectFields schema={schema} value={(value ?? {}) as Record<string, unknown>} onChange={onChange} path={path} ctx={ctx} />
      </fieldset>
    );
  }
  if (schema.type === "object") return <RecordField {...props} />;
  if (schema.type === "array") return <ListField {...props} />;
  if (schema.enum) {
    return (
      <Labelled label={label}>
        <select aria-label={label} value={String(value ?? "")} onChange={(e) => onChange(e.currentTarget.value)}>
          {schema.enum.map((v) => (
            <option key={String(v)} value={String(v)}>
              {String(v)}
            </option>
          ))}
        </select>
        {problems}
      </Labelled>
    );
  }
  if (schema.type === "boolean") {
    return (
      <label class="check">
        <input type="checkbox" checked={value === true} onChange={(e) => onChange(e.currentTarget.checked)} /> {label}
        {problems}
      </label>
    );
  }
  if (schema.type === "number" || schema.type === "integer") {
    return (
      <Labelled label={label}>
        <input
          aria-label={label}
          type="number"
          value={typeof value === "number" ? value : ""}
          min={schema.minimum}
          max={schema.maximum}
          step={schema.type === "integer" ? 1 : "any"}
          onInput={(e) => onChange(e.currentTarget.value === "" ? undefined : Number(e.currentTarget.value))}
        />
        {problems}
      </Labelled>
    );
  }
  if (schema.type === "string") {
    return (
      <Labelled label={label}>
        <input
          aria-label={label}
          value={typeof value === "string" ? value : ""}
          placeholder={placeholderFor(schema)}
          onInput={(e) => onChange(e.currentTarget.value)}
        />
        {problems}
      </Labelled>
    );
  }
  return (
    <Labelled label={label}>
      <input
        aria-label={label}
        value={value === undefined ? "" : JSON.stringify(value)}
        onInput={(e) => onChange(parseJsonish(e.currentTarget.value))}
      />
      {problems}
    </Labelled>
  );
}

function Labelled(props: { label: string; children: ComponentChildren }) {
  return (
    // A div, not a label: the children may be several controls, each named by its own aria-label.
    <div class="field">
      <span>{props.label}</span>
      {props.children}
    </div>
  );
}

/** An object's properties: required ones always, optional ones when present (with a remove button) or as "+ add" buttons. */
export function ObjectFields(props: {
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  path: Path;
  ctx: FormContext;
}) {
  const { schema, value, onChange, path, ctx } = props;
  const required = new Set(schema.required ?? []);
  const shown = (k: string) => value[k] !== undefined || required.has(k) || ALWAYS_SHOWN.has(k);
  const entries = Object.entries(schema.properties ?? {}).filter(([k, s]) => !ctx.hidden.has(k) && s.const === undefined);
  const set = (k: string, v: unknown) => {
    const next = { ...value };
    if (v === undefined && !required.has(k)) delete next[k];
    else next[k] = v;
    onChange(next);
  };
  const absent = entries.filter(([k]) => !shown(k));
  return (
    <div class="fields">
      {entries
        .filter(([k]) => shown(k))
        .map(([k, s]) => (
          <div class="field-row" key={k} data-field={k}>
            <Field schema={s} value={value[k]} onChange={(v) => set(k, v)} path={[...path, k]} name={k} ctx={ctx} />
            {required.has(k) || value[k] === undefined ? null : (
              <button type="button" class="remove" aria-label={`Remove ${humanize(k)}`} onClick={() => set(k, undefined)}>
                ×
              </button>
            )}
          </div>
        ))}
      {absent.length > 0 ? (
        <div class="add-fields">
          {absent.map(([k, s]) => (
            <button type="button" key={k} onClick={() => set(k, defaultFor(s))}>
              + {humanize(k)}
            </button>
          ))}
        </div>
      ) : null}
      <FieldProblems problems={ctx.problems} path={path} />
    </div>
  );
}

function UnionField(props: Parameters<typeof Field>[0]) {
  const { schema, value, onChange, path, name, ctx } = props;
  const forms = schema.anyOf ?? [];
  // A form that is an enum of words lists its words as choices of their own (reentry: never, after_exit, cooldown).
  const choices = forms.flatMap((form, i) =>
    form.enum
      ? form.enum.map((v) => ({ id: `v:${String(v)}`, label: humanize(String(v)), form: i, value: v as unknown }))
      : [{ id: `f:${i}`, label: formLabel(form), form: i, value: undefined as unknown }],
  );
  const current = forms.findIndex((f) => matches(f, value));
  const chosen = choices.find((c) => (c.value !== undefined ? c.value === value : c.form === current));
  const form = current >= 0 ? forms[current] : undefined;
  return (
    <div class="union">
      <Labelled label={humanize(name)}>
        <select
          aria-label={humanize(name)}
          value={chosen?.id ?? ""}
          onChange={(e) => {
            const choice = choices.find((c) => c.id === e.currentTarget.value);
            if (choice) onChange(choice.value !== undefined ? choice.value : defaultFor(forms[choice.form] ?? {}));
          }}
        >
          {chosen ? null : <option value="">Choose…</option>}
          {choices.map((c) => (
            <option key={c.id} value={c.id}>
              {c.label}
            </option>
          ))}
        </select>
      </Labelled>
      {form && !form.enum ? (
        form.type === "object" && form.properties ? (
          <ObjectFields schema={form} value={value as Record<string, unknown>} onChange={onChange} path={path} ctx={ctx} />
        ) : (
          <Field schema={form} value={value} onChange={onChange} path={path} name={name} ctx={ctx} />
        )
      ) : null}
      <FieldProblems problems={ctx.problems} path={path} />
    </div>
  );
}

function ListField(props: Parameters<typeof Field>[0]) {
  const { schema, value, onChange, path, name, ctx } = props;
  const items = schema.items ?? {};
  const list = Array.isArray(value) ? value : [];
  if (items.enum) {
    return (
      <Labelled label={humanize(name)}>
        <span class="checks">
          {items.enum.map((v) => (
            <label key={String(v)} class="check">
              <input
                type="checkbox"
                checked={list.includes(v)}
                onChange={(e) => onChange(e.currentTarget.checked ? [...list, v] : list.filter((x) => x !== v))}
              />
              {String(v)}
            </label>
          ))}
        </span>
        <FieldProblems problems={ctx.problems} path={path} />
      </Labelled>
    );
  }
  if (items.type === "string") {
    return (
      <Labelled label={humanize(name)}>
        <input
          aria-label={humanize(name)}
          value={list.join(", ")}
          placeholder="comma, separated"
          onInput={(e) =>
            onChange(
              e.currentTarget.value
                .split(",")
                .map((t) => t.trim())
                .filter((t) => t !== ""),
            )
          }
        />
        <FieldProblems problems={ctx.problems} path={path} />
      </Labelled>
    );
  }
  const canRemove = list.length > (schema.minItems ?? 0);
  const canAdd = list.length < (schema.maxItems ?? Number.POSITIVE_INFINITY);
  return (
    <fieldset class="list">
      <legend>{humanize(name)}</legend>
      {list.map((item, i) => (
        <div class="list-item" key={i}>
          <Field
            schema={items}
            value={item}
            onChange={(v) => onChange(list.map((x, j) => (j === i ? v : x)))}
            path={[...path, i]}
            name={`${humanize(name)} ${i + 1}`}
            label={ctx.itemLabel?.(path, item, i)}
            ctx={ctx}
          />
          {canRemove ? (
            <button type="button" class="remove" aria-label={`Remove ${i + 1}`} onClick={() => onChange(list.filter((_, j) => j !== i))}>
              ×
            </button>
          ) : null}
        </div>
      ))}
      {canAdd ? (
        <button type="button" onClick={() => onChange([...list, defaultFor(items)])}>
          + Add
        </button>
      ) : null}
      <FieldProblems problems={ctx.problems} path={path} />
    </fieldset>
  );
}

function RecordField(props: Parameters<typeof Field>[0]) {
  const { value, onChange, path, name, ctx } = props;
  const entries = Object.entries((value ?? {}) as Record<string, unknown>);
  const write = (next: [string, unknown][]) => onChange(Object.fromEntries(next));
  return (
    <fieldset class="list">
      <legend>{humanize(name)}</legend>
      {entries.map(([k, v], i) => (
        <div class="list-item" key={i}>
          <input
            aria-label={`${humanize(name)} name`}
            value={k}
            onInput={(e) => write(entries.map((x, j) => (j === i ? [e.currentTarget.value, x[1]] : x)))}
          />
          <input
            aria-label={`${humanize(name)} value`}
            value={typeof v === "string" ? v : JSON.stringify(v)}
            onInput={(e) => write(entries.map((x, j) => (j === i ? [x[0], parseJsonish(e.currentTarget.value)] : x)))}
          />
          <button type="button" class="remove" aria-label="Remove" onClick={() => write(entries.filter((_, j) => j !== i))}>
            ×
          </button>
        </div>
      ))}
      <button type="button" onClick={() => write([...entries, [`field_${entries.length + 1}`, ""]])}>
        + Add
      </button>
      <FieldProblems problems={ctx.problems} path={path} />
    </fieldset>
  );
}

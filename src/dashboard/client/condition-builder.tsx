/**
 * The one condition builder (SPEC section 5) of the flow editor's triggers, branches,
 * waits, exits and goals and of the segment editor: all/any groups, not, and rows for a
 * contact attribute (system attributes offered by name), a tag, a property of the
 * triggering event and a behaviour (an event within a time, counted, with its own
 * where). Pure value in, value out: it never validates; the API's issues (paths relative
 * to this condition) are shown on the row or group they name.
 */

import { SYSTEM_ATTRIBUTES } from "../../flows/conditions";
import type { Condition } from "../../flows/schema";
import type { ApiIssue } from "./api";

type Comparison = Extract<Condition, { op: unknown }>;
type Op = Comparison["op"];
type Behaviour = Extract<Condition, { event: string }>;
type CountOp = NonNullable<Behaviour["count"]>["op"];
type Path = (string | number)[];

/** Every comparison operator, as the user reads it; typed so a new operator in the schema must be named here. */
const OPS: Record<Op, string> = {
  eq: "is",
  ne: "is not",
  in: "is one of",
  nin: "is none of",
  gt: ">",
  gte: "≥",
  lt: "<",
  lte: "≤",
  contains: "contains",
  exists: "exists",
  before: "is before",
  after: "is after",
};
const COUNT_OPS: Record<CountOp, string> = {
  eq: "exactly",
  ne: "not exactly",
  gt: "more than",
  gte: "at least",
  lt: "fewer than",
  lte: "at most",
};

const KINDS = { attr: "Contact attribute", tag: "Has tag", prop: "Event property", event: "Did event" } as const;
type Kind = keyof typeof KINDS;

/** What a new row of each kind starts as. */
const NEW_ROW: Record<Kind, Condition> = {
  attr: { attr: "lifecycle_stage", op: "eq", value: "customer" },
  tag: { tag: "vip" },
  prop: { prop: "value", op: "gte", value: 50 },
  event: { event: "order_placed", within: "30d", count: { op: "gte", value: 1 } },
};

/** Props of the builder: the condition, its change handler, the API's issues under it. */
export interface ConditionBuilderProps {
  value: Condition;
  onChange: (value: Condition) => void;
  problems?: ApiIssue[];
  /** False where there is no triggering event (segments): no event-property rows. */
  eventProperties?: boolean;
  /** A label for the root, read by assistive technology and tests. */
  label?: string;
}

/** A typed value from what the user wrote: numbers and true/false as such, anything else as text. */
export function parseScalar(text: string): string | number | boolean {
  const trimmed = text.trim();
  if (trimmed === "true" || trimmed === "false") return trimmed === "true";
  if (trimmed !== "" && Number.isFinite(Number(trimmed))) return Number(trimmed);
  return text;
}

function formatValue(value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => String(v)).join(", ");
  return value === undefined || value === null ? "" : String(value);
}

const samePath = (a: Path, b: Path) => a.length === b.length && a.every((p, i) => p === b[i]);
const under = (path: Path, root: Path) => root.every((p, i) => path[i] === p);

function Problems(props: { problems: ApiIssue[]; path: Path; exact?: boolean }) {
  const mine = props.problems.filter((p) => (props.exact ? samePath(p.path, props.path) : under(p.path, props.path)));
  if (mine.length === 0) return null;
  return (
    <ul class="problems">
      {mine.map((p) => (
        <li key={`${p.path.join(".")}:${p.message}`}>{p.message}</li>
      ))}
    </ul>
  );
}

function kindOf(c: Condition): Kind | "all" | "any" | "not" {
  if ("all" in c) return "all";
  if ("any" in c) return "any";
  if ("not" in c) return "not";
  if ("tag" in c) return "tag";
  if ("attr" in c) return "attr";
  if ("prop" in c) return "prop";
  return "event";
}

/** The condition editor. */
export function ConditionBuilder(props: ConditionBuilderProps) {
  return (
    <fieldset class="condition" aria-label={props.label ?? "Condition"}>
      <legend>{props.label ?? "Condition"}</legend>
      <Node
        value={props.value}
        onChange={props.onChange}
        path={[]}
        problems={props.problems ?? []}
        eventProperties={props.eventProperties ?? true}
        inBehaviour={false}
        onRemove={null}
      />
    </fieldset>
  );
}

interface NodeProps {
  value: Condition;
  onChange: (value: Condition) => void;
  path: Path;
  problems: ApiIssue[];
  eventProperties: boolean;
  /** Inside a behaviour's where: no behaviour rows (the API refuses them). */
  inBehaviour: boolean;
  onRemove: (() => void) | null;
}

function Node(props: NodeProps) {
  const { value, onChange } = props;
  const kind = kindOf(value);
  if (kind === "all" || kind === "any") return <Group {...props} mode={kind} />;
  if (kind === "not" && "not" in value) {
    return (
      <div class="cond-not">
        <div class="cond-bar">
          <strong>Not</strong>
          <button type="button" onClick={() => onChange(value.not)} title="Remove the not">
            Unwrap
          </button>
          {props.onRemove ? (
            <button type="button" class="remove" onClick={props.onRemove} aria-label="Remove">
              ×
            </button>
          ) : null}
        </div>
        <Node {...props} value={value.not} onChange={(not) => onChange({ not })} path={[...props.path, "not"]} onRemove={null} />
        <Problems problems={props.problems} path={props.path} exact />
      </div>
    );
  }
  return (
    <div class="cond-row-wrap">
      <Row {...props} kind={kind as Kind} />
      <div class="cond-actions">
        <button type="button" onClick={() => onChange({ not: value })}>
          Not
        </button>
        {props.path.length === 0 ? (
          <button type="button" onClick={() => onChange({ all: [value, NEW_ROW.tag] })}>
            + And / or
          </button>
        ) : null}
      </div>
    </div>
  );
}

function Group(props: NodeProps & { mode: "all" | "any" }) {
  const { value, onChange, mode } = props;
  const children = (mode === "all" && "all" in value ? value.all : "any" in value ? value.any : []) as Condition[];
  const set = (next: Condition[]) => onChange(mode === "all" ? { all: next } : { any: next });
  const rowKinds = (Object.keys(KINDS) as Kind[]).filter(
    (k) => (k !== "prop" || props.eventProperties) && (k !== "event" || !props.inBehaviour),
  );
  return (
    <div class={`cond-group cond-${mode}`}>
      <div class="cond-bar">
        <select
          aria-label="Match"
          value={mode}
          onChange={(e) => onChange((e.currentTarget.value === "all" ? { all: children } : { any: children }) as Condition)}
        >
          <option value="all">All of</option>
          <option value="any">Any of</option>
        </select>
        <button type="button" onClick={() => onChange({ not: value })}>
          Not
        </button>
        {props.onRemove ? (
          <button type="button" class="remove" onClick={props.onRemove} aria-label="Remove group">
            ×
          </button>
        ) : null}
      </div>
      {children.map((child, i) => (
        <Node
          key={i}
          {...props}
          value={child}
          path={[...props.path, mode, i]}
          onChange={(c) => set(children.map((x, j) => (j === i ? c : x)))}
          onRemove={
            children.length > 1 ? () => set(children.filter((_, j) => j !== i)) : props.path.length === 0 ? null : (props.onRemove ?? null)
          }
        />
      ))}
      <div class="cond-add">
        {rowKinds.map((k) => (
          <button type="button" key={k} onClick={() => set([...children, NEW_ROW[k]])}>
            + {KINDS[k]}
          </button>
        ))}
        <button type="button" onClick={() => set([...children, { any: [NEW_ROW.tag] }])}>
          + Group
        </button>
      </div>
      <Problems problems={props.problems} path={props.path} exact />
    </div>
  );
}

function Row(props: NodeProps & { kind: Kind }) {
  const { value, onChange, kind } = props;
  const kinds = (Object.keys(KINDS) as Kind[]).filter(
    (k) => (k !== "prop" || props.eventProperties) && (k !== "event" || !props.inBehaviour),
  );
  return (
    <div class="cond-row">
      <select aria-label="Rule" value={kind} onChange={(e) => onChange(NEW_ROW[e.currentTarget.value as Kind])}>
        {kinds.map((k) => (
          <option key={k} value={k}>
            {KINDS[k]}
          </option>
        ))}
      </select>
      {"tag" in value ? (
        <input aria-label="Tag" value={value.tag} onInput={(e) => onChange({ tag: e.currentTarget.value })} />
      ) : "op" in value ? (
        <ComparisonRow value={value} onChange={onChange} />
      ) : "event" in value ? (
        <BehaviourRow {...props} value={value} />
      ) : null}
      {props.onRemove ? (
        <button type="button" class="remove" onClick={props.onRemove} aria-label="Remove rule">
          ×
        </button>
      ) : null}
      <Problems problems={props.problems} path={props.path} />
    </div>
  );
}

function ComparisonRow(props: { value: Comparison; onChange: (value: Condition) => void }) {
  const { value, onChange } = props;
  const isAttr = "attr" in value;
  const name = isAttr ? value.attr : value.prop;
  const rename = (n: string) => onChange(isAttr ? { ...value, attr: n } : { ...value, prop: n });
  const withOp = (op: Op): Condition => {
    const { value: old, ...rest } = value;
    if (op === "exists") return { ...rest, op, value: true } as Condition;
    if (op === "in" || op === "nin") return { ...rest, op, value: Array.isArray(old) ? old : old === undefined ? [] : [old] } as Condition;
    return { ...rest, op, value: Array.isArray(old) ? old[0] : old === true ? "" : old } as Condition;
  };
  return (
    <>
      <input
        aria-label={isAttr ? "Attribute" : "Property"}
        list={isAttr ? "system-attributes" : undefined}
        value={name}
        placeholder={isAttr ? "lifecycle_stage" : "cart_value"}
        onInput={(e) => rename(e.currentTarget.value)}
      />
      {isAttr ? (
        <datalist id="system-attributes">
          {SYSTEM_ATTRIBUTES.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
      ) : null}
      <select aria-label="Operator" value={value.op} onChange={(e) => onChange(withOp(e.currentTarget.value as Op))}>
        {(Object.keys(OPS) as Op[]).map((op) => (
          <option key={op} value={op}>
            {OPS[op]}
          </option>
        ))}
      </select>
      {value.op === "exists" ? (
        <select
          aria-label="Value"
          value={value.value === false ? "false" : "true"}
          onChange={(e) => onChange({ ...value, value: e.currentTarget.value === "true" })}
        >
          <option value="true">yes</option>
          <option value="false">no</option>
        </select>
      ) : (
        <input
          aria-label="Value"
          value={formatValue(value.value)}
          placeholder={
            value.op === "in" || value.op === "nin"
              ? "a, b, c"
              : value.op === "before" || value.op === "after"
                ? "2026-01-31 or 30d ago"
                : ""
          }
          onInput={(e) => {
            const text = e.currentTarget.value;
            const list = value.op === "in" || value.op === "nin";
            onChange({
              ...value,
              value: list
                ? text
                    .split(",")
                    .map((t) => parseScalar(t.trim()))
                    .filter((t) => t !== "")
                : parseScalar(text),
            });
          }}
        />
      )}
    </>
  );
}

function BehaviourRow(props: NodeProps & { value: Behaviour }) {
  const { value, onChange } = props;
  const count = value.count ?? { op: "gte" as const, value: 1 };
  return (
    <>
      <input
        aria-label="Event"
        value={value.event}
        placeholder="order_placed"
        onInput={(e) => onChange({ ...value, event: e.currentTarget.value })}
      />
      <select
        aria-label="Count"
        value={count.op}
        onChange={(e) => onChange({ ...value, count: { ...count, op: e.currentTarget.value as CountOp } })}
      >
        {(Object.keys(COUNT_OPS) as CountOp[]).map((op) => (
          <option key={op} value={op}>
            {COUNT_OPS[op]}
          </option>
        ))}
      </select>
      <input
        aria-label="Times"
        type="number"
        min={0}
        class="narrow"
        value={count.value}
        onInput={(e) => onChange({ ...value, count: { ...count, value: Math.max(0, Math.floor(Number(e.currentTarget.value) || 0)) } })}
      />
      <span>times within</span>
      <input
        aria-label="Within"
        class="narrow"
        value={value.within ?? ""}
        placeholder="ever"
        onInput={(e) => {
          const { within: _, ...rest } = value;
          const text = e.currentTarget.value.trim();
          onChange(text === "" ? rest : { ...rest, within: text });
        }}
      />
      {value.where ? (
        <div class="cond-where">
          <span>where</span>
          <Node
            {...props}
            value={value.where}
            path={[...props.path, "where"]}
            inBehaviour
            eventProperties
            onChange={(where) => onChange({ ...value, where })}
            onRemove={() => {
              const { where: _, ...rest } = value;
              onChange(rest);
            }}
          />
        </div>
      ) : (
        <button type="button" onClick={() => onChange({ ...value, where: { prop: "value", op: "gte", value: 1 } })}>
          + where
        </button>
      )}
    </>
  );
}

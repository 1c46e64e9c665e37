/**
 * The compose form of a broadcast: its fields as the page shows them, the
 * definition they make (checked by the API's own `BroadcastInput`), and each
 * problem placed next to the field it concerns. Pure: the routes load and
 * store, this module only translates.
 */

import { VARIANT_NAMES } from "../broadcasts/plan";
import { BroadcastAudience, BroadcastInput } from "../broadcasts/schema";
import type { ErrorIssue } from "../http/errors";

/** Subjects the form offers for an A/B test (the schema allows up to five variants; three fit a small shop). */
export const FORM_VARIANTS = VARIANT_NAMES.slice(0, 3);

/** Every field of the compose form, as strings (what the page shows and posts). */
export interface BroadcastFormValues {
  id: string;
  name: string;
  template: string;
  /** `all`, `segment:<id>`, or `condition` (one set through the API, carried as JSON). */
  audience: string;
  audience_condition: string;
  when: "now" | "at";
  /** `YYYY-MM-DDTHH:MM` in UTC, as an `<input type="datetime-local">` gives it. */
  send_at: string;
  local_time: string;
  timezone: string;
  ab: boolean;
  subjects: string[];
  sample_percent: string;
  wait: string;
  metric: string;
  skip_if_emailed_within: string;
  test_to: string;
}

/** Problems by form field: `name`, `subject_b`, `sample_percent`, … and `form` for the rest. */
export type FieldProblems = Record<string, string[]>;

/** The empty form of a new broadcast. */
export function emptyForm(): BroadcastFormValues {
  return {
    id: "",
    name: "",
    template: "",
    audience: "all",
    audience_condition: "",
    when: "now",
    send_at: "",
    local_time: "",
    timezone: "",
    ab: false,
    subjects: FORM_VARIANTS.map(() => ""),
    sample_percent: "20",
    wait: "4h",
    metric: "click_rate",
    skip_if_emailed_within: "",
    test_to: "",
  };
}

/** The form showing a stored definition. */
export function formOf(id: string, definition: BroadcastInput): BroadcastFormValues {
  const audience = definition.audience;
  const test = definition.ab_test;
  return {
    ...emptyForm(),
    id,
    name: definition.name,
    template: definition.template,
    audience:
      "all" in audience && audience.all === true
        ? "all"
        : "segment" in audience && typeof audience.segment === "string"
          ? `segment:${audience.segment}`
          : "condition",
    audience_condition: "segment" in audience || "all" in audience ? "" : JSON.stringify(audience),
    when: definition.send_at ? "at" : "now",
    send_at: definition.send_at ? new Date(definition.send_at).toISOString().slice(0, 16) : "",
    local_time: definition.local_time ?? "",
    timezone: definition.timezone ?? "",
    ab: test !== undefined,
    subjects: FORM_VARIANTS.map((_, i) => test?.variants[i]?.subject ?? ""),
    sample_percent: test ? String(test.sample_percent) : "20",
    wait: test?.wait ?? "4h",
    metric: test?.metric ?? "click_rate",
    skip_if_emailed_within: definition.skip_if_emailed_within ?? "",
  };
}

/** Reads the posted fields (anything missing is empty, everything is cut to `max` characters). */
export function readForm(form: Record<string, unknown>, max: number): BroadcastFormValues {
  const text = (name: string) => (typeof form[name] === "string" ? (form[name] as string).slice(0, max).trim() : "");
  return {
    id: text("id"),
    name: text("name"),
    template: text("template"),
    audience: text("audience") || "all",
    audience_condition: text("audience_condition"),
    when: text("when") === "at" ? "at" : "now",
    send_at: text("send_at"),
    local_time: text("local_time"),
    timezone: text("timezone"),
    ab: text("ab") === "on",
    subjects: FORM_VARIANTS.map((v) => text(`subject_${v}`)),
    sample_percent: text("sample_percent"),
    wait: text("wait"),
    metric: text("metric"),
    skip_if_emailed_within: text("skip_if_emailed_within"),
    test_to: text("test_to"),
  };
}

/** The audience the form names, or a problem with it. */
function audienceOfForm(values: BroadcastFormValues): unknown {
  if (values.audience === "all") return { all: true };
  if (values.audience.startsWith("segment:")) return { segment: values.audience.slice("segment:".length) };
  try {
    return JSON.parse(values.audience_condition);
  } catch {
    return null;
  }
}

/** A `datetime-local` value read as UTC; anything else is passed on for the schema to refuse. */
function utcInstant(value: string): string {
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(value)) return `${value}:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(value)) return `${value}Z`;
  return value;
}

/**
 * The definition the form describes, with what the form does not show kept from `previous` (quiet hours, variant
 * templates), before any check: the schema and the API's checks see exactly what `PUT /v1/broadcasts/:id` would.
 */
export function definitionOfForm(values: BroadcastFormValues, previous?: BroadcastInput): Record<string, unknown> {
  const optional = (v: string) => (v === "" ? undefined : v);
  const subjects = values.subjects.map((s, i) => ({ s, i })).filter(({ s, i }) => s !== "" || previous?.ab_test?.variants[i]?.template);
  return {
    name: values.name,
    template: values.template,
    audience: audienceOfForm(values),
    send_at: values.when === "at" ? utcInstant(values.send_at) : undefined,
    local_time: optional(values.local_time),
    timezone: optional(values.timezone),
    quiet_hours: previous?.quiet_hours,
    ab_test: values.ab
      ? {
          variants: subjects.map(({ s, i }) => ({ subject: optional(s), template: previous?.ab_test?.variants[i]?.template })),
          sample_percent: Number(values.sample_percent),
          metric: values.metric,
          wait: values.wait,
        }
      : undefined,
    skip_if_emailed_within: optional(values.skip_if_emailed_within),
  };
}

/** The form field a problem's path points at. */
export function fieldOf(path: readonly PropertyKey[]): string {
  const [head, second, third] = path;
  if (head === "ab_test") {
    if (second === "variants" && typeof third === "number") return `subject_${VARIANT_NAMES[third] ?? "a"}`;
    if (second === "variants" || second === undefined) return "ab";
    return String(second);
  }
  if (head === "audience") return "audience";
  if (head === "send_at") return "send_at";
  return typeof head === "string" && head !== "" ? head : "form";
}

/** Puts each problem next to its field. */
export function placeProblems(issues: readonly { path: readonly PropertyKey[]; message: string }[]): FieldProblems {
  const placed: FieldProblems = {};
  for (const issue of issues) {
    const field = fieldOf(issue.path);
    placed[field] = [...(placed[field] ?? []), issue.message];
  }
  return placed;
}

/** The form's definition checked by the API's schema: the input, or every problem the schema sees. */
export function parseForm(values: BroadcastFormValues, previous?: BroadcastInput) {
  const draft = definitionOfForm(values, previous);
  if (values.when === "at" && values.send_at === "")
    return { input: null, issues: [{ path: ["send_at"], code: "required", message: "Choose when to send it" }] as ErrorIssue[] };
  const parsed = BroadcastInput.safeParse(draft);
  if (parsed.success) return { input: parsed.data, issues: [] as ErrorIssue[] };
  return {
    input: null,
    issues: parsed.error.issues.map(
      (i): ErrorIssue => ({ path: i.path.map((p) => (typeof p === "symbol" ? String(p) : p)), code: i.code, message: i.message }),
    ),
  };
}

/** The form's audience alone, when it is valid (for the count, which needs nothing else). */
export function audienceOfValues(values: BroadcastFormValues): BroadcastAudience | null {
  const parsed = BroadcastAudience.safeParse(audienceOfForm(values));
  return parsed.success ? parsed.data : null;
}

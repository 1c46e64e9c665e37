/**
 * The dashboard's contact pages: the list (search, segment and consent filters, cursor pages, export), the importer,
 * a contact's page with its edit, consent, suppress, erase, and enroll-in / remove-from-flow forms, the segments with
 * member counts, and the suppression list. Forms go through the API's zod schemas and the same db/ and contact/
 * helpers as /v1/*, so a change made here is the change the API would make (and emits the same events).
 */
import { type Context, Hono } from "hono";
import { contactChangeEvents } from "../contact/changes";
import { contactTimeline, listSuppressions } from "../db/admin-views";
import { contactPage } from "../db/contact-batch";
import { findContact, upsertContact } from "../db/contacts";
import { activeFlowNames, flowsByIds } from "../db/flows";
import { countMatching, listSegments, segmentPage } from "../db/segments";
import { isSuppressed, liftSuppression, suppressManually } from "../db/suppressions";
import type { Condition } from "../flows/schema";
import { enrollContactByHand, handEnrollmentRefusalAnswer, removeContactFromFlow } from "../http/contact-enrollments";
import { contactExportResponse, contactFilter, MAX_BATCH_CONTACTS } from "../http/contact-lists";
import { ContactInput, contactPatch, eraseContact, MAX_STORED_ATTRIBUTES_BYTES } from "../http/contacts";
import { pipelineOf } from "../http/context";
import { ApiError } from "../http/errors";
import { idParam } from "../http/flows";
import { SuppressionInput, suppressionExportResponse } from "../http/suppressions";
import { recordEvents } from "../pipeline/pipeline";
import { sendConfirmation } from "../tracking/consent";
import {
  type ContactFormValues,
  ContactPage,
  ContactsPage,
  contactFormValues,
  EraseContactPage,
  type FieldProblems,
  ImportPage,
  SegmentsPage,
  SuppressionsPage,
} from "./contacts-pages";
import { MAX_FIELD, ProblemPage, render } from "./render";
import type { DashboardEnv } from "./routes";

/** Contacts per list page. */
const PAGE_SIZE = 50;
/** Segments counted per page: one count query each, well inside the Free plan's 50 queries per request. */
const SEGMENTS_PER_PAGE = 30;
/** A segment's count scans at most this many members; a larger segment shows as "100,000+". */
const SEGMENT_COUNT_CAP = 100_000;

const NO_CONTACT = "There is no contact with that id (it may have been erased).";

type Form = Record<string, unknown>;
const text = (form: Form, name: string) => (typeof form[name] === "string" ? (form[name] as string).slice(0, MAX_FIELD) : "");

/** zod issues by the form field they belong to (their first path segment; "" for the form). */
function problemsOf(issues: { path: PropertyKey[]; message: string }[]): FieldProblems {
  const problems: FieldProblems = {};
  for (const issue of issues) {
    const key = String(issue.path[0] ?? "");
    problems[key] = [...(problems[key] ?? []), issue.message];
  }
  return problems;
}

/** The contact routes of the dashboard (mounted by dashboard/routes behind its session and CSRF checks). */
export const contactDashboardRoutes = new Hono<DashboardEnv>();

contactDashboardRoutes.get("/admin/contacts", async (c) => {
  const db = c.var.db;
  const q = (c.req.query("q") ?? "").trim().slice(0, 254);
  const segment = (c.req.query("segment") ?? "").slice(0, 64);
  const consentQuery = c.req.query("consent") ?? "";
  const consent = ContactInput.shape.consent.safeParse(consentQuery).data;
  const cursor = (c.req.query("cursor") ?? "").slice(0, 100) || undefined;
  const segments = await listSegments(db);
  let problem: string | null = null;
  let rows: Awaited<ReturnType<typeof contactPage>> = [];
  try {
    const filter = await contactFilter(db, { q: q || undefined, segment: segment || undefined, consent }, Date.now());
    rows = await contactPage(db, filter, PAGE_SIZE, cursor);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    problem = error.message;
  }
  // A contact id pasted into the search finds that contact too.
  const byId = q.startsWith("c_") && !cursor ? await findContact(db, q) : undefined;
  if (byId && !rows.some((r) => r.id === byId.id)) rows.unshift(byId);
  const nextCursor = rows.length >= PAGE_SIZE ? (rows[rows.length - 1]?.id ?? null) : null;
  return render(
    c,
    <ContactsPage
      query={{ q, segment, consent: consent ?? "" }}
      segments={segments}
      contacts={rows}
      nextCursor={nextCursor}
      problem={problem}
      csrf={c.var.csrf}
      currency={c.var.config.CURRENCY}
    />,
    problem ? 404 : 200,
  );
});

contactDashboardRoutes.get("/admin/contacts/export", async (c) => {
  const segment = (c.req.query("segment") ?? "").slice(0, 64);
  try {
    const filter = await contactFilter(c.var.db, { segment: segment || undefined }, Date.now());
    return await contactExportResponse(c, c.var.db, filter);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return render(c, <ProblemPage title="No such segment" message={error.message} />, 404);
  }
});

contactDashboardRoutes.get("/admin/contacts/import", (c) => render(c, <ImportPage csrf={c.var.csrf} maxBatch={MAX_BATCH_CONTACTS} />));

const CONTACT_NOTICES: Record<string, string> = {
  saved: "Saved.",
  enrolled: "Enrolled: the flow's first steps have run.",
  removed: "Removed from the flow; its queued mail was cancelled.",
  consent: "Consent changed.",
  suppressed: "Suppressed: this address gets no more email.",
};

/** Renders a contact's page, with the form's values and problems when a submission was refused. */
async function contactPageFor(
  c: Context<DashboardEnv>,
  id: string,
  submitted?: { values: ContactFormValues; problems: FieldProblems; status?: 404 | 409 | 422 },
) {
  const db = c.var.db;
  const data = await contactTimeline(db, id);
  if (!data) return render(c, <ProblemPage title="No such contact" message={NO_CONTACT} />, 404);
  const flows = await flowsByIds(db, [...new Set(data.enrollments.map((e) => e.flowId))]);
  const emailSteps = new Set(
    [...flows.values()].flatMap((f) => f.definition.steps.filter((s) => s.type === "email").map((s) => `${f.id}/${s.id}`)),
  );
  return render(
    c,
    <ContactPage
      data={data}
      emailSteps={emailSteps}
      values={submitted?.values ?? contactFormValues(data.contact)}
      problems={submitted?.problems ?? {}}
      notice={CONTACT_NOTICES[c.req.query("done") ?? ""] ?? null}
      suppressed={await isSuppressed(db, data.contact.email)}
      activeFlows={await activeFlowNames(db)}
      csrf={c.var.csrf}
      currency={c.var.config.CURRENCY}
    />,
    submitted ? (submitted.status ?? 422) : 200,
  );
}

contactDashboardRoutes.get("/admin/contacts/:id", (c) => contactPageFor(c, c.req.param("id")));

contactDashboardRoutes.post("/admin/contacts/:id", async (c) => {
  const db = c.var.db;
  const before = await findContact(db, c.req.param("id"));
  if (!before || before.id !== c.req.param("id")) return render(c, <ProblemPage title="No such contact" message={NO_CONTACT} />, 404);
  const form = await c.req.parseBody();
  const values: ContactFormValues = {
    first_name: text(form, "first_name"),
    last_name: text(form, "last_name"),
    timezone: text(form, "timezone"),
    lifecycle_stage: text(form, "lifecycle_stage"),
    tags: text(form, "tags"),
    attributes: typeof form.attributes === "string" ? form.attributes.slice(0, MAX_STORED_ATTRIBUTES_BYTES + 1) : "",
  };
  const problems: FieldProblems = {};
  let attributes: unknown = {};
  if (values.attributes.trim()) {
    try {
      attributes = JSON.parse(values.attributes);
    } catch {
      problems.attributes = ["Not valid JSON"];
    }
  }
  if (new TextEncoder().encode(values.attributes).length > MAX_STORED_ATTRIBUTES_BYTES)
    problems.attributes = [`At most ${MAX_STORED_ATTRIBUTES_BYTES} bytes of attributes are kept per contact`];
  const tags = values.tags
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
  const orNull = (v: string) => (v.trim() ? v.trim() : null);
  // The form holds the whole profile: attributes it no longer lists are removed, as a null does through the API.
  const removed =
    typeof attributes === "object" && attributes !== null && !Array.isArray(attributes)
      ? Object.fromEntries(Object.keys(before.attributes).flatMap((k) => (k in attributes ? [] : [[k, null]])))
      : {};
  const parsed = ContactInput.safeParse({
    email: before.email,
    first_name: orNull(values.first_name),
    last_name: orNull(values.last_name),
    timezone: orNull(values.timezone),
    lifecycle_stage: orNull(values.lifecycle_stage),
    attributes: problems.attributes ? {} : { ...removed, ...(attributes as object) },
    tags,
  });
  if (!parsed.success) Object.assign(problems, problemsOf(parsed.error.issues));
  if (!parsed.success || Object.keys(problems).length > 0) return contactPageFor(c, before.id, { values, problems });
  const now = Date.now();
  const patch = { ...contactPatch(parsed.data), removeTags: before.tags.filter((t) => !tags.includes(t)) };
  const { contact, changes } = await upsertContact(db, patch, now);
  await recordEvents(pipelineOf(c), contactChangeEvents(contact.id, changes, now), now);
  return c.redirect(`/admin/contacts/${encodeURIComponent(contact.id)}?done=saved`, 303);
});

contactDashboardRoutes.post("/admin/contacts/:id/consent", async (c) => {
  const db = c.var.db;
  const before = await findContact(db, c.req.param("id"));
  if (!before || before.id !== c.req.param("id")) return render(c, <ProblemPage title="No such contact" message={NO_CONTACT} />, 404);
  const form = await c.req.parseBody();
  const parsed = ContactInput.safeParse({ email: before.email, consent: text(form, "consent") });
  if (!parsed.success)
    return contactPageFor(c, before.id, { values: contactFormValues(before), problems: problemsOf(parsed.error.issues) });
  const now = Date.now();
  const { contact, changes } = await upsertContact(db, contactPatch(parsed.data), now);
  await recordEvents(pipelineOf(c), contactChangeEvents(contact.id, changes, now), now);
  // Double opt-in, as PUT /v1/contacts: a contact who just became pending gets the confirmation email.
  if (contact.consent === "pending" && changes.some((ch) => ch.attribute === "consent"))
    await sendConfirmation(pipelineOf(c), contact, now);
  return c.redirect(`/admin/contacts/${encodeURIComponent(contact.id)}?done=consent`, 303);
});

contactDashboardRoutes.post("/admin/contacts/:id/suppress", async (c) => {
  const contact = await findContact(c.var.db, c.req.param("id"));
  if (!contact || contact.id !== c.req.param("id")) return render(c, <ProblemPage title="No such contact" message={NO_CONTACT} />, 404);
  const form = await c.req.parseBody();
  const parsed = SuppressionInput.safeParse({
    email: contact.email,
    ...(text(form, "reason").trim() ? { reason: text(form, "reason") } : {}),
  });
  if (!parsed.success)
    return contactPageFor(c, contact.id, { values: contactFormValues(contact), problems: problemsOf(parsed.error.issues) });
  await suppressManually(c.var.db, [contact.email], parsed.data.reason ?? null, Date.now());
  return c.redirect(`/admin/contacts/${encodeURIComponent(contact.id)}?done=suppressed`, 303);
});

contactDashboardRoutes.post("/admin/contacts/:id/enrollments", async (c) => {
  const contact = await findContact(c.var.db, c.req.param("id"));
  if (!contact || contact.id !== c.req.param("id")) return render(c, <ProblemPage title="No such contact" message={NO_CONTACT} />, 404);
  const form = await c.req.parseBody();
  const flow = idParam.shape.id.safeParse(text(form, "flow"));
  const result = flow.success
    ? await enrollContactByHand(c.env, contact, flow.data)
    : { enrolled: false as const, reason: "no_flow" as const };
  if (!result.enrolled) {
    const { status, message } = handEnrollmentRefusalAnswer(result.reason);
    return contactPageFor(c, contact.id, { values: contactFormValues(contact), problems: { enrollment: [message] }, status });
  }
  return c.redirect(`/admin/contacts/${encodeURIComponent(contact.id)}?done=enrolled`, 303);
});

contactDashboardRoutes.post("/admin/contacts/:id/enrollments/:flow/remove", async (c) => {
  const contact = await findContact(c.var.db, c.req.param("id"));
  if (!contact || contact.id !== c.req.param("id")) return render(c, <ProblemPage title="No such contact" message={NO_CONTACT} />, 404);
  const flow = idParam.shape.id.safeParse(c.req.param("flow"));
  const ended = flow.success ? await removeContactFromFlow(c.env, contact, flow.data) : null;
  if (!ended) {
    const problems = { enrollment: ["The contact is not running in that flow (it may have ended already)."] };
    return contactPageFor(c, contact.id, { values: contactFormValues(contact), problems, status: 404 });
  }
  return c.redirect(`/admin/contacts/${encodeURIComponent(contact.id)}?done=removed`, 303);
});

contactDashboardRoutes.get("/admin/contacts/:id/erase", async (c) => {
  const contact = await findContact(c.var.db, c.req.param("id"));
  if (!contact || contact.id !== c.req.param("id")) return render(c, <ProblemPage title="No such contact" message={NO_CONTACT} />, 404);
  return render(c, <EraseContactPage contact={contact} problem={null} csrf={c.var.csrf} />);
});

contactDashboardRoutes.post("/admin/contacts/:id/erase", async (c) => {
  const contact = await findContact(c.var.db, c.req.param("id"));
  if (!contact || contact.id !== c.req.param("id")) return render(c, <ProblemPage title="No such contact" message={NO_CONTACT} />, 404);
  const form = await c.req.parseBody();
  if (text(form, "confirm").trim().toLowerCase() !== contact.email) {
    const problem = "That is not this contact's address; nothing was erased.";
    return render(c, <EraseContactPage contact={contact} problem={problem} csrf={c.var.csrf} />, 422);
  }
  await eraseContact(c.env, c.var.db, c.var.config.SIGNING_SECRET, contact);
  return c.redirect("/admin/contacts", 303);
});

contactDashboardRoutes.get("/admin/segments", async (c) => {
  const db = c.var.db;
  const after = (c.req.query("after") ?? "").slice(0, 64) || undefined;
  const page = await segmentPage(db, SEGMENTS_PER_PAGE, after);
  const now = Date.now();
  const counted = await Promise.all(
    page.map(async (s) => {
      const members = await countMatching(db, s.condition as Condition, now, SEGMENT_COUNT_CAP);
      return { id: s.id, name: s.name, members, capped: members >= SEGMENT_COUNT_CAP, updatedAt: s.updatedAt };
    }),
  );
  const next = page.length === SEGMENTS_PER_PAGE ? page[page.length - 1]?.id : undefined;
  return render(c, <SegmentsPage segments={counted} next={next} csrf={c.var.csrf} />);
});

contactDashboardRoutes.get("/admin/suppressions", async (c) => {
  const lifted = (c.req.query("lifted") ?? "").slice(0, 254);
  const added = c.req.query("added");
  const notice = lifted
    ? `${lifted} is no longer suppressed.`
    : added !== undefined
      ? `Suppressed ${Number(added) || 0} new address(es); the others were already suppressed.`
      : undefined;
  return render(c, <SuppressionsPage rows={await listSuppressions(c.var.db)} notice={notice} csrf={c.var.csrf} />);
});

contactDashboardRoutes.get("/admin/suppressions/export", (c) => suppressionExportResponse(c, c.var.db));

contactDashboardRoutes.post("/admin/suppressions/add", async (c) => {
  const form = await c.req.parseBody();
  const raw = typeof form.emails === "string" ? form.emails.slice(0, 300_000) : "";
  const values = { emails: raw, reason: text(form, "reason") };
  const emails = raw
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter(Boolean);
  const parsed = SuppressionInput.safeParse({ emails, ...(values.reason.trim() ? { reason: values.reason } : {}) });
  if (!parsed.success) {
    const problems: FieldProblems = {};
    for (const issue of parsed.error.issues) {
      const [field, index] = issue.path;
      const key = field === "reason" ? "reason" : "emails";
      const where = typeof index === "number" ? `${emails[index]}: ` : "";
      problems[key] = [...(problems[key] ?? []), `${where}${issue.message}`];
    }
    const rows = await listSuppressions(c.var.db);
    return render(c, <SuppressionsPage rows={rows} values={values} problems={problems} csrf={c.var.csrf} />, 422);
  }
  const unique = [...new Set(parsed.data.emails ?? [])];
  const added = await suppressManually(c.var.db, unique, parsed.data.reason ?? null, Date.now());
  return c.redirect(`/admin/suppressions?added=${added.length}`, 303);
});

contactDashboardRoutes.post("/admin/suppressions/lift", async (c) => {
  const form = await c.req.parseBody();
  const email = typeof form.email === "string" ? form.email.slice(0, 254) : "";
  if (!email || !(await liftSuppression(c.var.db, c.var.config.SIGNING_SECRET, email))) {
    return render(c, <ProblemPage title="Not suppressed" message="That address is not on the suppression list." />, 404);
  }
  return c.redirect(`/admin/suppressions?lifted=${encodeURIComponent(email)}`, 303);
});

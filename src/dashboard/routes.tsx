/**
 * The dashboard at /admin: server-rendered pages behind a cookie session
 * (dashboard/session.ts), separate from the bearer-key auth of /v1/*. Every
 * POST must come from this origin and carry the session's CSRF token. Pages
 * read reports from the rollups (reports/stats) and the rest through db/
 * helpers; the flow status switch is `switchFlowStatus`, shared with the API.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { connectorSecret, type Platform } from "../connect/connector";
import { CONNECTORS } from "../connect/connectors";
import { switchFlowStatus } from "../contact/flow-control";
import {
  contactTimeline,
  findMessage,
  flowDeliveryCounts,
  listSuppressions,
  mailboxMessages,
  recentSnippetEvents,
  searchContacts,
} from "../db/admin-views";
import type { Database } from "../db/client";
import { lastConnectorDeliveries } from "../db/connectors";
import { findContact } from "../db/contacts";
import { findFlow, flowsByIds } from "../db/flows";
import type { TemplateRow } from "../db/schema";
import { findSegment, listSegments } from "../db/segments";
import { liftSuppression } from "../db/suppressions";
import { findTemplate, listTemplates, saveTemplate } from "../db/templates";
import { liquidProblems } from "../delivery/liquid";
import { renderPreview, SAMPLE_EVENT, sampleContact, sampleSubject } from "../delivery/preview";
import type { Config, Env } from "../env";
import { checkAdminKey } from "../http/admin-auth";
import { csrfToken, csrfTokenValid, endSession, readSession, type Session, sameOrigin, startSession } from "../http/session";
import { RangeQuery, resolveRange } from "../http/stats";
import { TemplateId, TemplateInput, toContent } from "../http/templates";
import { THROTTLE_RULES } from "../http/throttle";
import { libraryEntry } from "../library/catalog";
import { contentHash, editedTemplates, installEntry, libraryTemplate, type OnEdited, restoreLibraryTemplate } from "../library/install";
import { flowStats, overviewStats } from "../reports/stats";
import { ConnectPage } from "./connect-page";
import { FlowEditorPage, SegmentEditorPage, SegmentsPage } from "./editor-pages";
import { flowFormSchema } from "./flow-form-schema";
import { Bare } from "./layout";
import { LibraryConflictPage, LibraryPage } from "./library-page";
import { untrackedHtml, untrackedText } from "./mail-frame";
import { MailboxMessagePage, MailboxPage, TemplatePage, TemplatesPage } from "./mail-pages";
import { ContactPage, ContactsPage, FlowPage, FlowsPage, LoginPage, OverviewPage, SuppressionsPage } from "./pages";
import { SetupPage } from "./setup-page";
import { whyNoMail } from "./why";

/** The dashboard's context: the app's, plus the verified session and its CSRF token. */
export interface DashboardEnv {
  Bindings: Env;
  Variables: { config: Config; db: Database; session: Session; csrf: string };
}

/** Dashboard pages load nothing from elsewhere: inline styles and SVG, this origin's island scripts (no inline script) and API, forms post here, no framing. */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** An email's HTML framed in the dashboard: sandboxed (no scripts, opaque origin; links may open a new tab), its images allowed, framable only by the dashboard. */
const MAIL_FRAME_CSP =
  "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; frame-ancestors 'self'";

/** Answers a dashboard page with its security headers. */
function render(c: Context, page: Parameters<Context["html"]>[0], status: ContentfulStatusCode = 200) {
  c.header("Content-Security-Policy", DASHBOARD_CSP);
  c.header("X-Frame-Options", "DENY");
  c.header("Referrer-Policy", "same-origin");
  c.header("Cache-Control", "no-store");
  return c.html(page, status);
}

/** The longest form field the dashboard reads. */
const MAX_FIELD = 2000;

function ProblemPage(props: { title: string; message: string }) {
  return (
    <Bare title={props.title}>
      <main>
        <h1>{props.title}</h1>
        <p>{props.message}</p>
        <p>
          <a href="/admin">Back to the dashboard</a>
        </p>
      </main>
    </Bare>
  );
}

/** Requires a dashboard session on /admin pages (except the login form); a POST also needs same origin and a valid CSRF token. */
export function dashboardAuth(): MiddlewareHandler<DashboardEnv> {
  return async function requireDashboardSession(c, next) {
    if (c.req.path === "/admin/login") return next();
    const now = Date.now();
    const session = await readSession(c, c.var.config, now);
    if (!session) {
      if (c.req.method === "GET" || c.req.method === "HEAD") return c.redirect("/admin/login", 303);
      return render(c, <ProblemPage title="Logged out" message="Your session has ended; log in again." />, 401);
    }
    const secret = c.var.config.SIGNING_SECRET;
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const token = typeof form._csrf === "string" ? form._csrf.slice(0, MAX_FIELD) : "";
      if (!sameOrigin(c) || !(await csrfTokenValid(secret, session, token, now))) {
        return render(
          c,
          <ProblemPage title="Forbidden" message="This form is stale or did not come from this site. Reload the page and try again." />,
          403,
        );
      }
    }
    c.set("session", session);
    c.set("csrf", await csrfToken(secret, session, now));
    await next();
  };
}

function rangeOf(query: Record<string, string>) {
  const parsed = RangeQuery.safeParse(query);
  try {
    return resolveRange(parsed.success ? parsed.data : {}, Date.now());
  } catch {
    return resolveRange({}, Date.now());
  }
}

/** Only paths inside the dashboard are followed back after a form. */
const safeBack = (value: unknown) => (typeof value === "string" && /^\/admin(\/[\w%.-]*)*$/.test(value) ? value : "/admin/flows");

/** The dashboard routes. */
export const dashboardRoutes = new Hono<DashboardEnv>();

dashboardRoutes.use("/admin", dashboardAuth());
dashboardRoutes.use("/admin/*", dashboardAuth());

dashboardRoutes.get("/admin/login", async (c) => {
  if (await readSession(c, c.var.config, Date.now())) return c.redirect("/admin", 303);
  return render(c, <LoginPage />);
});

dashboardRoutes.post("/admin/login", async (c) => {
  if (!sameOrigin(c)) return render(c, <LoginPage error="This form did not come from this site." />, 403);
  const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
  const key = typeof form.key === "string" ? form.key.slice(0, MAX_FIELD) : "";
  const verdict = await checkAdminKey(c, c.env, c.var.config.ADMIN_API_KEY, key);
  if (verdict === "throttled") {
    c.header("Retry-After", String(THROTTLE_RULES.adminFailure.windowMs / 1000));
    return render(c, <LoginPage error="Too many failed attempts. Wait a few minutes and try again." />, 429);
  }
  if (verdict === "rejected") return render(c, <LoginPage error="That is not the admin key." />, 401);
  await startSession(c, c.var.config, Date.now());
  return c.redirect("/admin", 303);
});

dashboardRoutes.post("/admin/logout", (c) => {
  endSession(c);
  return c.redirect("/admin/login", 303);
});

dashboardRoutes.get("/admin", async (c) => {
  const overview = await overviewStats(c.var.db, rangeOf(c.req.query()), c.var.config.MONTHLY_COST);
  return render(c, <OverviewPage overview={overview} csrf={c.var.csrf} currency={c.var.config.CURRENCY} />);
});

dashboardRoutes.get("/admin/flows", async (c) => {
  const overview = await overviewStats(c.var.db, rangeOf(c.req.query()), c.var.config.MONTHLY_COST);
  return render(c, <FlowsPage overview={overview} csrf={c.var.csrf} currency={c.var.config.CURRENCY} />);
});

dashboardRoutes.get("/admin/flows/new", async (c) => {
  const templates = (await listTemplates(c.var.db)).map((t) => ({ id: t.id, subject: t.subject }));
  return render(c, <FlowEditorPage csrf={c.var.csrf} flow={null} templates={templates} schema={flowFormSchema()} />);
});

dashboardRoutes.get("/admin/flows/:id/edit", async (c) => {
  const flow = await findFlow(c.var.db, c.req.param("id"));
  if (!flow) return render(c, <ProblemPage title="No such flow" message="There is no flow with that id." />, 404);
  const templates = (await listTemplates(c.var.db)).map((t) => ({ id: t.id, subject: t.subject }));
  const stored = { id: flow.id, status: flow.status, version: flow.version, definition: flow.definition };
  return render(c, <FlowEditorPage csrf={c.var.csrf} flow={stored} templates={templates} schema={flowFormSchema()} />);
});

dashboardRoutes.get("/admin/segments", async (c) => {
  return render(c, <SegmentsPage csrf={c.var.csrf} segments={await listSegments(c.var.db)} />);
});

dashboardRoutes.get("/admin/segments/new", (c) => render(c, <SegmentEditorPage csrf={c.var.csrf} segment={null} />));

dashboardRoutes.get("/admin/segments/:id", async (c) => {
  const segment = await findSegment(c.var.db, c.req.param("id"));
  if (!segment) return render(c, <ProblemPage title="No such segment" message="There is no segment with that id." />, 404);
  return render(c, <SegmentEditorPage csrf={c.var.csrf} segment={segment} />);
});

dashboardRoutes.get("/admin/flows/:id", async (c) => {
  const id = c.req.param("id");
  const stats = await flowStats(c.var.db, id, rangeOf(c.req.query()));
  if (!stats) return render(c, <ProblemPage title="No such flow" message="There is no flow with that id." />, 404);
  const emailSteps = new Set(stats.steps.filter((s) => s.type === "email").map((s) => s.id));
  const why = whyNoMail(await flowDeliveryCounts(c.var.db, id), emailSteps, stats.flow.status === "paused");
  return render(c, <FlowPage stats={stats} why={why} csrf={c.var.csrf} currency={c.var.config.CURRENCY} />);
});

dashboardRoutes.get("/admin/library", async (c) => {
  const installed = libraryEntry(c.req.query("installed") ?? "");
  const flow = installed ? (await flowsByIds(c.var.db, [installed.name])).get(installed.name) : undefined;
  const notice = installed && flow ? `Installed "${installed.flow.name}" as flow ${flow.id} (${flow.status}).` : undefined;
  return render(c, <LibraryPage csrf={c.var.csrf} notice={notice} />);
});

const ON_EDITED: readonly OnEdited[] = ["refuse", "keep", "overwrite"];

dashboardRoutes.get("/admin/connect", async (c) => {
  const config = c.var.config;
  const secretsSet = Object.fromEntries(CONNECTORS.map((k) => [k.platform, connectorSecret(config, k) !== undefined])) as Record<
    Platform,
    boolean
  >;
  const deliveries = await lastConnectorDeliveries(c.var.db);
  return render(c, <ConnectPage csrf={c.var.csrf} publicUrl={config.PUBLIC_URL} secretsSet={secretsSet} deliveries={deliveries} />);
});

dashboardRoutes.post("/admin/library/:name/install", async (c) => {
  const entry = libraryEntry(c.req.param("name"));
  if (!entry) return render(c, <ProblemPage title="No such library flow" message="There is no library flow with that name." />, 404);
  const form = await c.req.parseBody();
  const onEdited = ON_EDITED.find((o) => o === form.on_edited) ?? "refuse";
  const result = await installEntry(c.var.db, entry, onEdited, Date.now());
  const path = `/admin/library/${encodeURIComponent(entry.name)}`;
  // Post/redirect/get: a reload shows the outcome instead of installing again.
  if (!result.ok) return c.redirect(`${path}/conflict`, 303);
  return c.redirect(`/admin/library?installed=${encodeURIComponent(entry.name)}`, 303);
});

dashboardRoutes.get("/admin/library/:name/conflict", async (c) => {
  const entry = libraryEntry(c.req.param("name"));
  if (!entry) return render(c, <ProblemPage title="No such library flow" message="There is no library flow with that name." />, 404);
  const edited = await editedTemplates(c.var.db, entry);
  if (edited.length === 0) return c.redirect("/admin/library", 303);
  return render(c, <LibraryConflictPage entry={entry} edited={edited} csrf={c.var.csrf} />);
});

dashboardRoutes.post("/admin/flows/:id/status", async (c) => {
  const form = await c.req.parseBody();
  const status = form.status;
  if (status !== "active" && status !== "paused") {
    return render(c, <ProblemPage title="Bad request" message="A flow is either activated or paused." />, 400);
  }
  if (!(await switchFlowStatus(c.env, c.var.db, c.executionCtx, c.req.param("id"), status))) {
    return render(c, <ProblemPage title="No such flow" message="There is no flow with that id." />, 404);
  }
  return c.redirect(safeBack(form.back), 303);
});

dashboardRoutes.get("/admin/contacts", async (c) => {
  const query = (c.req.query("q") ?? "").slice(0, 254);
  return render(
    c,
    <ContactsPage query={query} contacts={await searchContacts(c.var.db, query)} csrf={c.var.csrf} currency={c.var.config.CURRENCY} />,
  );
});

dashboardRoutes.get("/admin/contacts/:id", async (c) => {
  const data = await contactTimeline(c.var.db, c.req.param("id"));
  if (!data)
    return render(c, <ProblemPage title="No such contact" message="There is no contact with that id (it may have been erased)." />, 404);
  const flows = await flowsByIds(c.var.db, [...new Set(data.enrollments.map((e) => e.flowId))]);
  const emailSteps = new Set(
    [...flows.values()].flatMap((f) => f.definition.steps.filter((s) => s.type === "email").map((s) => `${f.id}/${s.id}`)),
  );
  return render(c, <ContactPage data={data} emailSteps={emailSteps} csrf={c.var.csrf} currency={c.var.config.CURRENCY} />);
});

dashboardRoutes.get("/admin/setup", async (c) => {
  const events = await recentSnippetEvents(c.var.db, Date.now());
  return render(c, <SetupPage config={c.var.config} events={events} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/suppressions", async (c) => {
  const lifted = (c.req.query("lifted") ?? "").slice(0, 254);
  const notice = lifted ? `${lifted} is no longer suppressed.` : undefined;
  return render(c, <SuppressionsPage rows={await listSuppressions(c.var.db)} notice={notice} csrf={c.var.csrf} />);
});

dashboardRoutes.post("/admin/suppressions/lift", async (c) => {
  const form = await c.req.parseBody();
  const email = typeof form.email === "string" ? form.email.slice(0, 254) : "";
  if (!email || !(await liftSuppression(c.var.db, c.var.config.SIGNING_SECRET, email))) {
    return render(c, <ProblemPage title="Not suppressed" message="That address is not on the suppression list." />, 404);
  }
  return c.redirect(`/admin/suppressions?lifted=${encodeURIComponent(email)}`, 303);
});

/** Renders a stored template (or sample data) for the preview, for a contact named by email or id, or the sample contact. */
async function previewFor(c: Context<DashboardEnv>, template: TemplateRow, who: string) {
  const now = Date.now();
  const contact = who ? await findContact(c.var.db, who) : sampleContact(now);
  if (!contact) return { email: null, problem: `No contact ${who}; showing nothing.` };
  try {
    const email = await renderPreview(template, contact, c.var.config, SAMPLE_EVENT, now);
    return { email: { ...email, text: await untrackedText(email.text, c.var.config) }, problem: null };
  } catch (error) {
    return { email: null, problem: `Rendering failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

function templateValues(t: TemplateRow | undefined) {
  return {
    subject: t?.subject ?? "",
    preheader: t?.preheader ?? "",
    from: t?.from ?? "",
    reply_to: t?.replyTo ?? "",
    html: t?.html ?? "",
    text: t?.text ?? "",
  };
}

dashboardRoutes.get("/admin/templates", async (c) => {
  const all = await listTemplates(c.var.db);
  const now = Date.now();
  const subjects = new Map<string, string>();
  for (const t of all) {
    try {
      subjects.set(t.id, await sampleSubject(t, c.var.config, now));
    } catch {
      // A subject that does not render for the sample contact is listed as written.
    }
  }
  return render(c, <TemplatesPage templates={all} subjects={subjects} csrf={c.var.csrf} />);
});

const TEMPLATE_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

dashboardRoutes.get("/admin/templates/new", (c) => {
  const id = (c.req.query("id") ?? "").trim();
  if (!TEMPLATE_ID.test(id) || id === "new") {
    return render(
      c,
      <ProblemPage title="Bad template id" message="A template id is 1-64 letters, digits, '-' or '_' (and not 'new')." />,
      400,
    );
  }
  return c.redirect(`/admin/templates/${encodeURIComponent(id)}`, 303);
});

/** True when the library has its own version of this template and the stored one is not it. */
async function restorable(template: TemplateRow | undefined): Promise<boolean> {
  const original = template && libraryTemplate(template.id);
  return !!original && (await contentHash(original)) !== (await contentHash(template));
}

const TEMPLATE_NOTICES: Record<string, string> = { saved: "Saved.", restored: "Restored the library's version." };

dashboardRoutes.get("/admin/templates/:id", async (c) => {
  const id = c.req.param("id");
  const template = await findTemplate(c.var.db, id);
  const who = (c.req.query("contact") ?? "").slice(0, 254);
  const preview = template ? await previewFor(c, template, who) : { email: null, problem: null };
  return render(
    c,
    <TemplatePage
      id={id}
      values={templateValues(template)}
      preview={preview.email}
      problems={preview.problem ? [preview.problem] : []}
      contact={who}
      exists={template !== undefined}
      restorable={await restorable(template)}
      notice={TEMPLATE_NOTICES[c.req.query("done") ?? ""] ?? null}
      csrf={c.var.csrf}
    />,
  );
});

dashboardRoutes.post("/admin/templates/:id/restore", async (c) => {
  const id = c.req.param("id");
  if (!(await restoreLibraryTemplate(c.var.db, id, Date.now()))) {
    return render(c, <ProblemPage title="Not a library template" message="The library has no template with that id." />, 404);
  }
  return c.redirect(`/admin/templates/${encodeURIComponent(id)}?done=restored`, 303);
});

dashboardRoutes.post("/admin/templates/:id", async (c) => {
  const id = c.req.param("id");
  if (!TemplateId.safeParse(id).success)
    return render(c, <ProblemPage title="Bad template id" message="Template ids are 1-100 letters, digits, '.', '-' or '_'." />, 422);
  const form = await c.req.parseBody();
  const text = (name: string) => (typeof form[name] === "string" ? (form[name] as string) : "");
  const values = {
    subject: text("subject"),
    preheader: text("preheader"),
    from: text("from"),
    reply_to: text("reply_to"),
    html: text("html"),
    text: text("text"),
  };
  const who = text("contact").slice(0, 254);
  const optional = (v: string) => (v.trim() ? v : null);
  const parsed = TemplateInput.safeParse({
    subject: values.subject,
    html: values.html,
    text: optional(values.text),
    from: optional(values.from),
    reply_to: optional(values.reply_to),
    preheader: optional(values.preheader),
  });
  const problems = parsed.success
    ? liquidProblems(parsed.data).map((p) => `${p.path.join(".")}: ${p.message}`)
    : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  if (!parsed.success || problems.length > 0) {
    const existing = await findTemplate(c.var.db, id);
    return render(
      c,
      <TemplatePage
        id={id}
        values={values}
        preview={null}
        problems={problems}
        contact={who}
        exists={existing !== undefined}
        restorable={await restorable(existing)}
        notice={null}
        csrf={c.var.csrf}
      />,
      422,
    );
  }
  await saveTemplate(c.var.db, id, toContent(parsed.data), Date.now());
  return c.redirect(`/admin/templates/${encodeURIComponent(id)}?contact=${encodeURIComponent(who)}&done=saved`, 303);
});

/** Answers an email's HTML for a sandboxed frame, its tracking neutralised so that looking records nothing. */
async function mailFrame(c: Context<DashboardEnv>, html: string) {
  c.header("Content-Security-Policy", MAIL_FRAME_CSP);
  c.header("X-Frame-Options", "SAMEORIGIN");
  c.header("Cache-Control", "no-store");
  return c.html(await untrackedHtml(html, c.var.config));
}

dashboardRoutes.get("/admin/templates/:id/render", async (c) => {
  const template = await findTemplate(c.var.db, c.req.param("id"));
  if (!template) return render(c, <ProblemPage title="No such template" message="There is no template with that id." />, 404);
  const preview = await previewFor(c, template, (c.req.query("contact") ?? "").slice(0, 254));
  return mailFrame(c, preview.email?.html ?? `<p>${preview.problem ?? ""}</p>`.replace(/[<>&]/g, (ch) => `&#${ch.charCodeAt(0)};`));
});

dashboardRoutes.get("/admin/mailbox", async (c) => {
  return render(c, <MailboxPage messages={await mailboxMessages(c.var.db)} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/mailbox/:id", async (c) => {
  const message = await findMessage(c.var.db, c.req.param("id"));
  if (!message?.html) return render(c, <ProblemPage title="No such message" message="There is no rendered message with that id." />, 404);
  const text = message.text === null ? null : await untrackedText(message.text, c.var.config);
  return render(c, <MailboxMessagePage message={{ ...message, text }} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/mailbox/:id/html", async (c) => {
  const message = await findMessage(c.var.db, c.req.param("id"));
  if (!message?.html) return render(c, <ProblemPage title="No such message" message="There is no rendered message with that id." />, 404);
  return mailFrame(c, message.html);
});

/**
 * The dashboard at /admin: server-rendered pages behind a cookie session
 * (http/session.ts), separate from the bearer-key auth of /v1/*. Every
 * POST must come from this origin and carry the session's CSRF token. Pages
 * read reports from the rollups (reports/stats) and the rest through db/
 * helpers; the flow status switch is `switchFlowStatus`, shared with the API,
 * and the broadcast pages check, store, send and cancel through the broadcast
 * API's own functions (http/broadcasts), so a form is refused exactly as the
 * API would refuse its JSON. The flow page's test send and simulation run the
 * API's `sendFlowTest` and `simulateFlow`.
 */
import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { sampleProblem } from "../broadcasts/plan";
import { StoredBroadcast } from "../broadcasts/schema";
import { connectorSecret, type Platform } from "../connect/connector";
import { CONNECTORS } from "../connect/connectors";
import { switchFlowStatus } from "../contact/flow-control";
import { findMessage, flowDeliveryCounts, mailboxMessages, recentSnippetEvents } from "../db/admin-views";
import { findBroadcast, listBroadcasts } from "../db/broadcasts";
import type { Database } from "../db/client";
import { lastConnectorDeliveries } from "../db/connectors";
import { findContact } from "../db/contacts";
import { deadLetterSummary } from "../db/dead-letters";
import { isCountable } from "../db/entry-count";
import { contactsOnStep, runningByStep } from "../db/flow-runs";
import {
  deleteFlow,
  deletionImpact,
  duplicateFlow,
  type FlowVersion,
  findFlow,
  findFlowVersion,
  flowsByIds,
  type StoredFlow,
} from "../db/flows";
import type { BroadcastRow, TemplateRow } from "../db/schema";
import { findSegment, listSegments } from "../db/segments";
import { findTemplate, listTemplates, saveTemplate } from "../db/templates";
import { liquidProblems } from "../delivery/liquid";
import { renderPreview, SAMPLE_EVENT, sampleContact, sampleSubject } from "../delivery/preview";
import type { Config, Env } from "../env";
import { Trigger } from "../flows/schema";
import { webhookPolicy } from "../flows/webhook-url";
import { checkAdminKey } from "../http/admin-auth";
import {
  audienceNow,
  BroadcastId,
  BroadcastTestInput,
  broadcastReport,
  cancelBroadcast,
  definitionProblems,
  saveDraft,
  sendDraft,
  testBroadcast,
} from "../http/broadcasts";
import { ApiError } from "../http/errors";
import { editImpact, entryCountOf, restoreFlowVersion, versionSummaries } from "../http/flow-lifecycle";
import { type FlowSimulation, SIMULATION_BOUNDS, SimulationDays, simulateFlow } from "../http/flow-simulate";
import { type FlowTestMessage, sendFlowTest, sendTemplateTest, TestInput } from "../http/flow-test";
import { csrfToken, csrfTokenValid, endSession, readSession, type Session, sameOrigin, startSession } from "../http/session";
import { RangeQuery, resolveRange } from "../http/stats";
import { TemplateId, TemplateInput, toContent } from "../http/templates";
import { THROTTLE_RULES } from "../http/throttle";
import { libraryEntry } from "../library/catalog";
import { contentHash, editedTemplates, installEntry, libraryTemplate, type OnEdited, restoreLibraryTemplate } from "../library/install";
import { broadcastTotals } from "../reports/broadcasts";
import { flowStats, overviewStats } from "../reports/stats";
import { escapeHtml } from "../tracking/consent";
import { sendBackDeadLetters } from "../tracking/consumer";
import {
  audienceOfValues,
  type BroadcastFormValues,
  emptyForm,
  type FieldProblems,
  formOf,
  parseForm,
  placeProblems,
  readForm,
} from "./broadcast-form";
import { audienceLabel, BroadcastComposePage, BroadcastConfirmPage, BroadcastReportPage, BroadcastsPage } from "./broadcast-pages";
import { ConnectPage } from "./connect-page";
import { contactDashboardRoutes } from "./contact-routes";
import { FlowEditorPage, SegmentEditorPage } from "./editor-pages";
import { flowFormSchema } from "./flow-form-schema";
import { DeleteFlowPage, FlowLifecycle, StepPage, VersionPage, VersionsPage } from "./flow-page-lifecycle";
import { FlowSimulationPage, FlowTestPage, FlowTools, type TestSendForm } from "./flow-tools";
import { formatCount } from "./format";
import { DEAD_LETTERS_SHOWN } from "./health-card";
import { LibraryConflictPage, LibraryPage } from "./library-page";
import { untrackedHtml, untrackedText } from "./mail-frame";
import { MailboxMessagePage, MailboxPage, TemplatePage, TemplatesPage } from "./mail-pages";
import { FlowPage, FlowsPage, LoginPage, OverviewPage } from "./pages";
import { MAX_FIELD, ProblemPage, render } from "./render";
import { SetupPage } from "./setup-page";
import { whyNoMail } from "./why";

/** The dashboard's context: the app's, plus the verified session and its CSRF token. */
export interface DashboardEnv {
  Bindings: Env;
  Variables: { config: Config; db: Database; session: Session; csrf: string };
}

/** An email's HTML framed in the dashboard: sandboxed (no scripts, opaque origin; links may open a new tab), its images allowed, framable only by the dashboard. */
const MAIL_FRAME_CSP =
  "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; frame-ancestors 'self'";

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
  const deadLetters = await deadLetterSummary(c.var.db, DEAD_LETTERS_SHOWN);
  const resent = /^\d{1,4}$/.exec(c.req.query("resent") ?? "")?.[0];
  const healthNotice = resent === undefined ? undefined : `Sent ${resent} back to the tracking queue.`;
  return render(
    c,
    <OverviewPage
      overview={overview}
      csrf={c.var.csrf}
      currency={c.var.config.CURRENCY}
      deadLetters={deadLetters}
      healthNotice={healthNotice}
    />,
  );
});

dashboardRoutes.post("/admin/health/dead-letters/retry", async (c) => {
  const sent = await sendBackDeadLetters(c.var.db, c.env.TRACKING);
  return c.redirect(`/admin?resent=${sent}#health`, 303);
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
  const flow = await findFlow(c.var.db, id);
  if (!flow) return render(c, <ProblemPage title="No such flow" message="There is no flow with that id." />, 404);
  const running = await runningByStep(c.var.db, id);
  const versions = await versionSummaries(c.var.db, flow, FLOW_PAGE_VERSIONS);
  // Counting scans every contact: done before launch (and on request), not on every view of a running flow.
  const countNow = flow.status !== "active" || c.req.query("entry_count") === "1";
  // A definition stored before today's schema may hold no readable trigger; its page still shows, without a count.
  const trigger = Trigger.safeParse(flow.definition.trigger);
  const entry = countNow && trigger.success ? ((await entryCountOf(c.var.db, trigger.data, Date.now())) ?? null) : null;
  return render(
    c,
    <FlowPage stats={stats} why={why} running={running} csrf={c.var.csrf} currency={c.var.config.CURRENCY}>
      <FlowLifecycle
        flowId={id}
        entry={entry}
        countable={trigger.success && isCountable(trigger.data)}
        running={[...running.values()].reduce((a, b) => a + b, 0)}
        versions={versions.versions}
        moreVersions={versions.nextCursor !== null}
        csrf={c.var.csrf}
      />
      <FlowTools flowId={id} maxDays={SIMULATION_BOUNDS.days} csrf={c.var.csrf} />
    </FlowPage>,
  );
});

/** The versions the flow page lists; the rest are a link away. */
const FLOW_PAGE_VERSIONS = 5;
const VERSIONS_PAGE = 20;
const STEP_CONTACTS_PAGE = 50;

const noFlow = (c: Context<DashboardEnv>) => render(c, <ProblemPage title="No such flow" message="There is no flow with that id." />, 404);
const noVersion = (c: Context<DashboardEnv>) =>
  render(c, <ProblemPage title="No such version" message="This flow has no saved version with that number." />, 404);

/** A version number from the path, or null. */
function versionParam(value: string): number | null {
  return /^[1-9]\d{0,8}$/.test(value) ? Number(value) : null;
}

// The test send and the simulation call the API's own functions; their pages show the form again above the result.
dashboardRoutes.post("/admin/flows/:id/test", async (c) => {
  const flow = await findFlow(c.var.db, c.req.param("id"));
  if (!flow) return noFlow(c);
  const fields = await c.req.parseBody();
  const field = (name: string) => (typeof fields[name] === "string" ? fields[name].slice(0, MAX_FIELD).trim() : "");
  const form: TestSendForm = { to: field("to"), contact: field("contact"), problems: {} };
  const answer = (sent: FlowTestMessage[] | null, status: ContentfulStatusCode) =>
    render(c, <FlowTestPage flowId={flow.id} name={flow.name} form={form} sent={sent} csrf={c.var.csrf} />, status);
  const parsed = TestInput.safeParse({ to: form.to, ...(form.contact ? { contact: form.contact } : {}) });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const at = issue.path[0] === "contact" ? "contact" : "to";
      form.problems[at] ??= issue.message;
    }
    return answer(null, 422);
  }
  const contact = parsed.data.contact ? await findContact(c.var.db, parsed.data.contact) : sampleContact(Date.now());
  if (!contact) {
    form.problems.contact = `No contact ${parsed.data.contact}`;
    return answer(null, 404);
  }
  try {
    return answer(await sendFlowTest(c.env, c.var.db, c.var.config, flow, contact, parsed.data.to), 200);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    form.problems.flow = error.message;
    return answer(null, error.status);
  }
});

dashboardRoutes.post("/admin/flows/:id/simulate", async (c) => {
  const flow = await findFlow(c.var.db, c.req.param("id"));
  if (!flow) return noFlow(c);
  const fields = await c.req.parseBody();
  const days = typeof fields.days === "string" ? fields.days.slice(0, 8).trim() : "";
  const answer = (sim: FlowSimulation | null, problem: string | null, status: ContentfulStatusCode) =>
    render(
      c,
      <FlowSimulationPage
        flowId={flow.id}
        name={flow.name}
        status={flow.status}
        form={{ days, problem }}
        maxDays={SIMULATION_BOUNDS.days}
        sim={sim}
        csrf={c.var.csrf}
      />,
      status,
    );
  const parsed = SimulationDays.safeParse(/^\d+$/.test(days) ? Number(days) : Number.NaN);
  if (!parsed.success) return answer(null, `Days must be a whole number from 1 to ${SIMULATION_BOUNDS.days}`, 422);
  try {
    return answer(await simulateFlow(c.var.db, c.var.config, flow.id, flow.definition, parsed.data), null, 200);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return answer(null, error.message, error.status);
  }
});

dashboardRoutes.post("/admin/flows/:id/duplicate", async (c) => {
  const flow = await findFlow(c.var.db, c.req.param("id"));
  if (!flow) return noFlow(c);
  const copy = await duplicateFlow(c.var.db, flow, Date.now());
  return c.redirect(`/admin/flows/${encodeURIComponent(copy.id)}`, 303);
});

dashboardRoutes.get("/admin/flows/:id/delete", async (c) => {
  const flow = await findFlow(c.var.db, c.req.param("id"));
  if (!flow) return noFlow(c);
  const impact = await deletionImpact(c.var.db, flow.id);
  return render(c, <DeleteFlowPage flowId={flow.id} name={flow.name} status={flow.status} impact={impact} csrf={c.var.csrf} />);
});

dashboardRoutes.post("/admin/flows/:id/delete", async (c) => {
  if (!(await deleteFlow(c.var.db, c.req.param("id")))) return noFlow(c);
  return c.redirect("/admin/flows", 303);
});

dashboardRoutes.get("/admin/flows/:id/versions", async (c) => {
  const flow = await findFlow(c.var.db, c.req.param("id"));
  if (!flow) return noFlow(c);
  const before = versionParam(c.req.query("before") ?? "") ?? undefined;
  const page = await versionSummaries(c.var.db, flow, VERSIONS_PAGE, before);
  return render(
    c,
    <VersionsPage flowId={flow.id} name={flow.name} versions={page.versions} nextCursor={page.nextCursor} csrf={c.var.csrf} />,
  );
});

/** Renders a version with what restoring it would change and do to running contacts. */
async function versionPage(
  c: Context<DashboardEnv>,
  flow: StoredFlow,
  version: FlowVersion,
  problems: string[],
  status: ContentfulStatusCode,
) {
  const impact = await editImpact(c.var.db, flow, version.definition);
  return render(
    c,
    <VersionPage
      flowId={flow.id}
      name={flow.name}
      version={version.version}
      savedAt={version.savedAt}
      current={version.version === flow.version}
      impact={impact}
      definition={version.definition}
      problems={problems}
      csrf={c.var.csrf}
    />,
    status,
  );
}

dashboardRoutes.get("/admin/flows/:id/versions/:version", async (c) => {
  const flow = await findFlow(c.var.db, c.req.param("id"));
  if (!flow) return noFlow(c);
  const number = versionParam(c.req.param("version"));
  const version = number === null ? undefined : await findFlowVersion(c.var.db, flow.id, number);
  if (!version) return noVersion(c);
  return versionPage(c, flow, version, [], 200);
});

dashboardRoutes.post("/admin/flows/:id/versions/:version/restore", async (c) => {
  const id = c.req.param("id");
  const number = versionParam(c.req.param("version"));
  if (number === null) return noVersion(c);
  const restored = await restoreFlowVersion(c.var.db, id, number, webhookPolicy(c.var.config.PUBLIC_URL), Date.now());
  if (restored.ok) return c.redirect(`/admin/flows/${encodeURIComponent(id)}`, 303);
  const [flow, version] = [await findFlow(c.var.db, id), await findFlowVersion(c.var.db, id, number)];
  if (restored.missing || !flow || !version) return noVersion(c);
  return versionPage(
    c,
    flow,
    version,
    restored.issues.map((i) => `${i.path.join(".")}: ${i.message}`),
    422,
  );
});

dashboardRoutes.get("/admin/flows/:id/steps/:step", async (c) => {
  const id = c.req.param("id");
  const stats = await flowStats(c.var.db, id, rangeOf(c.req.query()));
  if (!stats) return noFlow(c);
  const step = stats.steps.find((s) => s.id === c.req.param("step") && s.type !== "removed");
  if (!step) return render(c, <ProblemPage title="No such step" message="This flow has no step with that id." />, 404);
  const cursor = (c.req.query("cursor") ?? "").slice(0, 100) || undefined;
  const rows = await contactsOnStep(c.var.db, id, step.id, STEP_CONTACTS_PAGE + 1, cursor);
  const page = rows.slice(0, STEP_CONTACTS_PAGE);
  return render(
    c,
    <StepPage
      flowId={id}
      flowName={stats.flow.name}
      step={step}
      range={stats.range}
      contacts={page}
      nextCursor={rows.length > STEP_CONTACTS_PAGE ? (page.at(-1)?.enrollmentId ?? null) : null}
      currency={c.var.config.CURRENCY}
      csrf={c.var.csrf}
    />,
  );
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

dashboardRoutes.route("/", contactDashboardRoutes);

dashboardRoutes.get("/admin/setup", async (c) => {
  const events = await recentSnippetEvents(c.var.db, Date.now());
  return render(c, <SetupPage config={c.var.config} events={events} csrf={c.var.csrf} />);
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
      test={testOutcome(c.req.query())}
      csrf={c.var.csrf}
    />,
  );
});

/** What the last test send of this page did, from its redirect's query. */
function testOutcome(query: Record<string, string>): { message: string; failed: boolean } | null {
  if (query.test_problem) return { message: `Test not sent: ${query.test_problem.slice(0, 500)}`, failed: true };
  if (query.test_to)
    return { message: `Test sent to ${query.test_to.slice(0, 254)}: ${(query.test_status ?? "").slice(0, 200)}.`, failed: false };
  return null;
}

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
  const parsed = templateForm(form);
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
        test={null}
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

/** The editor's fields of a posted template form, as TemplateInput (empty optional fields are absent). */
function templateForm(form: Record<string, unknown>) {
  const text = (name: string) => (typeof form[name] === "string" ? (form[name] as string) : "");
  const optional = (v: string) => (v.trim() ? v : null);
  return TemplateInput.safeParse({
    subject: text("subject"),
    html: text("html"),
    text: optional(text("text")),
    from: optional(text("from")),
    reply_to: optional(text("reply_to")),
    preheader: optional(text("preheader")),
  });
}

// The live preview (client island template-preview) posts the unsaved draft here, into the sandboxed mail frame.
dashboardRoutes.post("/admin/templates/:id/draft", async (c) => {
  const id = c.req.param("id");
  const form = await c.req.parseBody();
  const parsed = templateForm(form);
  const problems = parsed.success
    ? liquidProblems(parsed.data).map((p) => `${p.path.join(".")}: ${p.message}`)
    : parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
  if (!parsed.success || problems.length > 0) return mailFrame(c, `<p>${escapeHtml(problems.join("; "))}</p>`);
  const now = Date.now();
  const draft: TemplateRow = { id, ...toContent(parsed.data), libraryHash: null, createdAt: now, updatedAt: now };
  const who = typeof form.contact === "string" ? form.contact.slice(0, 254) : "";
  const preview = await previewFor(c, draft, who);
  return mailFrame(c, preview.email?.html ?? `<p>${escape(preview.problem ?? "")}</p>`);
});

dashboardRoutes.post("/admin/templates/:id/test", async (c) => {
  const id = c.req.param("id");
  const template = await findTemplate(c.var.db, id);
  if (!template) return render(c, <ProblemPage title="No such template" message="Save the template before sending a test." />, 404);
  const form = await c.req.parseBody();
  const parsed = TestInput.safeParse({
    to: typeof form.to === "string" ? form.to.slice(0, 254) : "",
    ...(typeof form.contact === "string" && form.contact.trim() ? { contact: form.contact.slice(0, 254) } : {}),
  });
  const back = `/admin/templates/${encodeURIComponent(id)}`;
  if (!parsed.success) return c.redirect(`${back}?test_problem=${encodeURIComponent(parsed.error.issues[0]?.message ?? "Invalid")}`, 303);
  const now = Date.now();
  const contact = parsed.data.contact ? await findContact(c.var.db, parsed.data.contact) : sampleContact(now);
  if (!contact) return c.redirect(`${back}?test_problem=${encodeURIComponent(`No contact ${parsed.data.contact}`)}`, 303);
  try {
    const sent = await sendTemplateTest(c.env, c.var.db, c.var.config, template, contact, parsed.data.to);
    const outcome = `${sent.status}${sent.reason ? ` (${sent.reason})` : ""}`;
    return c.redirect(`${back}?test_to=${encodeURIComponent(parsed.data.to)}&test_status=${encodeURIComponent(outcome)}`, 303);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return c.redirect(`${back}?test_problem=${encodeURIComponent(error.message)}`, 303);
  }
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

/** The compose page for these values: templates and segments to pick from, who the audience holds now, the preview. */
async function composePage(
  c: Context<DashboardEnv>,
  values: BroadcastFormValues,
  problems: FieldProblems,
  options: { isNew: boolean; notice?: string | null; status?: ContentfulStatusCode },
) {
  const db = c.var.db;
  const [templates, segments] = await Promise.all([listTemplates(db), listSegments(db)]);
  const audience = audienceOfValues(values);
  const count = audience ? await audienceNow(db, { audience }, Date.now()) : null;
  const chosen = values.template ? templates.find((t) => t.id === values.template) : undefined;
  const preview = chosen
    ? await previewFor(c, chosen, "")
    : values.template
      ? { email: null, problem: `No template ${values.template}.` }
      : null;
  return render(
    c,
    <BroadcastComposePage
      values={values}
      problems={problems}
      isNew={options.isNew}
      templates={templates.map((t) => ({ id: t.id, subject: t.subject }))}
      segments={segments.map((s) => ({ id: s.id, name: s.name }))}
      count={count}
      preview={preview}
      notice={options.notice ?? null}
      csrf={c.var.csrf}
    />,
    options.status,
  );
}

async function segmentNames(db: Database): Promise<Map<string, string>> {
  return new Map((await listSegments(db)).map((s) => [s.id, s.name]));
}

const noBroadcast = (c: Context<DashboardEnv>) =>
  render(c, <ProblemPage title="No such broadcast" message="There is no broadcast with that id." />, 404);

const broadcastPath = (id: string) => `/admin/broadcasts/${encodeURIComponent(id)}`;

function broadcastNotice(query: Record<string, string>): string | null {
  const to = (query.to ?? "").slice(0, 254);
  const notices: Record<string, string> = {
    saved: "Saved as a draft.",
    tested: `A test of each version went to ${to}.`,
    sending: "Sending: the audience is being queued now.",
    scheduled: "Scheduled.",
    cancelled: `Cancelled: ${formatCount(Number(query.n) || 0)} unsent messages were stopped; sent ones stay sent.`,
  };
  return notices[query.done ?? ""] ?? null;
}

dashboardRoutes.get("/admin/broadcasts", async (c) => {
  const db = c.var.db;
  const rows = await listBroadcasts(db);
  const [totals, names] = await Promise.all([
    broadcastTotals(
      db,
      rows.map((r) => r.id),
    ),
    segmentNames(db),
  ]);
  return render(
    c,
    <BroadcastsPage
      rows={rows.map((row) => ({
        row,
        audience: audienceLabel(StoredBroadcast.parse(row.definition).audience, names),
        totals: totals.get(row.id)!,
      }))}
      csrf={c.var.csrf}
      currency={c.var.config.CURRENCY}
    />,
  );
});

dashboardRoutes.get("/admin/broadcasts/new", (c) => composePage(c, emptyForm(), {}, { isNew: true }));

dashboardRoutes.post("/admin/broadcasts", async (c) => {
  const db = c.var.db;
  const form = await c.req.parseBody();
  const values = readForm(form, MAX_FIELD);
  const isNew = form.new === "1";
  const action = typeof form.action === "string" ? form.action : "save";
  const idValid = BroadcastId.safeParse(values.id);
  const existing = idValid.success ? await findBroadcast(db, values.id) : undefined;
  if (!isNew && !existing) return noBroadcast(c);
  if (existing && existing.status !== "draft") return c.redirect(broadcastPath(existing.id), 303);
  // Counting and previewing show the form again as typed; nothing is checked beyond the audience, nothing is stored.
  if (action === "count" || action === "preview") {
    const problems: FieldProblems = audienceOfValues(values) ? {} : { audience: ["Choose who receives it"] };
    return composePage(c, values, problems, { isNew });
  }
  const previous = existing ? StoredBroadcast.parse(existing.definition) : undefined;
  const { input, issues } = parseForm(values, previous);
  if (!idValid.success) issues.push({ path: ["id"], code: "invalid_id", message: idValid.error.issues[0]!.message });
  else if (isNew && existing) issues.push({ path: ["id"], code: "id_taken", message: `A broadcast ${values.id} exists already` });
  const testTo = BroadcastTestInput.safeParse({ to: values.test_to });
  if (action === "test" && !testTo.success)
    issues.push({ path: ["test_to"], code: "invalid_email", message: "Type the address to send the test to" });
  const now = Date.now();
  if (input && issues.length === 0) {
    try {
      await saveDraft(db, values.id, input, now);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      issues.push(...(error.issues ?? [{ path: [], code: error.code, message: error.message }]));
    }
  }
  if (!input || issues.length > 0) return composePage(c, values, placeProblems(issues), { isNew, status: 422 });
  const path = broadcastPath(values.id);
  if (action === "review") return c.redirect(`${path}/confirm`, 303);
  if (action === "test" && testTo.success) {
    try {
      await testBroadcast(c.env, db, c.var.config, values.id, testTo.data.to, now);
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      return composePage(c, values, placeProblems([{ path: ["test_to"], message: error.message }]), { isNew: false, status: 422 });
    }
    return c.redirect(`${path}?done=tested&to=${encodeURIComponent(testTo.data.to)}`, 303);
  }
  return c.redirect(`${path}?done=saved`, 303);
});

dashboardRoutes.get("/admin/broadcasts/:id", async (c) => {
  const db = c.var.db;
  const row = await findBroadcast(db, c.req.param("id"));
  if (!row) return noBroadcast(c);
  const input = StoredBroadcast.parse(row.definition);
  const notice = broadcastNotice(c.req.query());
  if (row.status === "draft") return composePage(c, formOf(row.id, input), {}, { isNew: false, notice });
  return render(
    c,
    <BroadcastReportPage
      row={row}
      input={input}
      stats={await broadcastReport(db, row)}
      audience={audienceLabel(input.audience, await segmentNames(db))}
      notice={notice}
      csrf={c.var.csrf}
      currency={c.var.config.CURRENCY}
    />,
  );
});

/** The confirmation page: the final count now, and what sending would refuse (the same checks as the send). */
async function confirmPage(c: Context<DashboardEnv>, row: BroadcastRow, extra: string[] = [], status?: ContentfulStatusCode) {
  const db = c.var.db;
  const input = StoredBroadcast.parse(row.definition);
  const now = Date.now();
  const count = await audienceNow(db, input, now);
  const sampleIssue = input.ab_test ? sampleProblem(count, input.ab_test) : null;
  const problems = [...(await definitionProblems(db, input, now)).map((i) => i.message), ...(sampleIssue ? [sampleIssue] : []), ...extra];
  const names = await segmentNames(db);
  return render(
    c,
    <BroadcastConfirmPage
      row={row}
      input={input}
      audience={audienceLabel(input.audience, names)}
      count={count}
      problems={[...new Set(problems)]}
      csrf={c.var.csrf}
    />,
    status,
  );
}

dashboardRoutes.get("/admin/broadcasts/:id/confirm", async (c) => {
  const row = await findBroadcast(c.var.db, c.req.param("id"));
  if (!row) return noBroadcast(c);
  if (row.status !== "draft") return c.redirect(broadcastPath(row.id), 303);
  return confirmPage(c, row);
});

dashboardRoutes.post("/admin/broadcasts/:id/send", async (c) => {
  const id = c.req.param("id");
  try {
    const { broadcast } = await sendDraft(c.var.db, id, Date.now());
    return c.redirect(`${broadcastPath(id)}?done=${broadcast.status}`, 303);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 404) return noBroadcast(c);
    const row = await findBroadcast(c.var.db, id);
    if (error.status === 422 && row) return confirmPage(c, row, [], 422);
    return render(c, <ProblemPage title="Not sent" message={error.message} />, 409);
  }
});

dashboardRoutes.post("/admin/broadcasts/:id/cancel", async (c) => {
  const id = c.req.param("id");
  try {
    const { cancelled } = await cancelBroadcast(c.var.db, id, Date.now());
    return c.redirect(`${broadcastPath(id)}?done=cancelled&n=${cancelled}`, 303);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    if (error.status === 404) return noBroadcast(c);
    return render(c, <ProblemPage title="Not cancelled" message={error.message} />, 409);
  }
});

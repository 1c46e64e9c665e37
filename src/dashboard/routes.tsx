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
import { contactTimeline, findMessage, listSuppressions, mailboxMessages, searchContacts } from "../db/admin-views";
import type { Database } from "../db/client";
import { lastConnectorDeliveries } from "../db/connectors";
import { findContact } from "../db/contacts";
import type { TemplateRow } from "../db/schema";
import { findTemplate, listTemplates, saveTemplate } from "../db/templates";
import { liquidProblems } from "../delivery/liquid";
import { renderPreview, SAMPLE_EVENT, sampleContact } from "../delivery/preview";
import type { Config, Env } from "../env";
import { secretsEqual } from "../http/admin-auth";
import { RangeQuery, resolveRange } from "../http/stats";
import { TemplateInput, toContent } from "../http/templates";
import { libraryEntry } from "../library/catalog";
import { installEntry } from "../library/install";
import { flowStats, overviewStats } from "../reports/stats";
import { ConnectPage } from "./connect-page";
import { Bare } from "./layout";
import { LibraryPage } from "./library-page";
import { MailboxMessagePage, MailboxPage, TemplatePage, TemplatesPage } from "./mail-pages";
import { ContactPage, ContactsPage, FlowPage, FlowsPage, LoginPage, OverviewPage, SuppressionsPage } from "./pages";
import { csrfToken, csrfTokenValid, endSession, readSession, type Session, sameOrigin, startSession } from "./session";

/** The dashboard's context: the app's, plus the verified session and its CSRF token. */
export interface DashboardEnv {
  Bindings: Env;
  Variables: { config: Config; db: Database; session: Session; csrf: string };
}

/** Dashboard pages load nothing from anywhere: inline styles and SVG only, forms post to this origin, no framing. */
export const DASHBOARD_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** An email's HTML framed in the dashboard: sandboxed (no scripts, opaque origin), its images allowed, framable only by the dashboard. */
const MAIL_FRAME_CSP = "sandbox; default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; frame-ancestors 'self'";

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
  if (!key || !(await secretsEqual(key, c.var.config.ADMIN_API_KEY)))
    return render(c, <LoginPage error="That is not the admin key." />, 401);
  await startSession(c, c.var.config, Date.now());
  return c.redirect("/admin", 303);
});

dashboardRoutes.post("/admin/logout", (c) => {
  endSession(c);
  return c.redirect("/admin/login", 303);
});

dashboardRoutes.get("/admin", async (c) => {
  const overview = await overviewStats(c.var.db, rangeOf(c.req.query()), c.var.config.MONTHLY_COST);
  return render(c, <OverviewPage overview={overview} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/flows", async (c) => {
  const overview = await overviewStats(c.var.db, rangeOf(c.req.query()), c.var.config.MONTHLY_COST);
  return render(c, <FlowsPage overview={overview} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/flows/:id", async (c) => {
  const stats = await flowStats(c.var.db, c.req.param("id"), rangeOf(c.req.query()));
  if (!stats) return render(c, <ProblemPage title="No such flow" message="There is no flow with that id." />, 404);
  return render(c, <FlowPage stats={stats} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/library", (c) => render(c, <LibraryPage csrf={c.var.csrf} />));

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
  const result = await installEntry(c.var.db, entry, false, Date.now());
  if (!result.ok) {
    const message = `These templates were edited since the library installed them: ${result.conflicts.join(", ")}. Use the API with ?overwrite=true to replace them.`;
    return render(c, <ProblemPage title="Templates edited" message={message} />, 409);
  }
  return render(
    c,
    <LibraryPage csrf={c.var.csrf} notice={`Installed "${entry.flow.name}" as flow ${result.flow.id} (${result.flow.status}).`} />,
  );
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
  return render(c, <ContactsPage query={query} contacts={await searchContacts(c.var.db, query)} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/contacts/:id", async (c) => {
  const data = await contactTimeline(c.var.db, c.req.param("id"));
  if (!data)
    return render(c, <ProblemPage title="No such contact" message="There is no contact with that id (it may have been erased)." />, 404);
  return render(c, <ContactPage data={data} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/suppressions", async (c) => {
  return render(c, <SuppressionsPage rows={await listSuppressions(c.var.db)} csrf={c.var.csrf} />);
});

/** Renders a stored template (or sample data) for the preview, for a contact named by email or id, or the sample contact. */
async function previewFor(c: Context<DashboardEnv>, template: TemplateRow, who: string) {
  const now = Date.now();
  const contact = who ? await findContact(c.var.db, who) : sampleContact(now);
  if (!contact) return { email: null, problem: `No contact ${who}; showing nothing.` };
  try {
    return { email: await renderPreview(template, contact, c.var.config, SAMPLE_EVENT, now), problem: null };
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
  return render(c, <TemplatesPage templates={await listTemplates(c.var.db)} csrf={c.var.csrf} />);
});

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
      saved={false}
      csrf={c.var.csrf}
    />,
  );
});

dashboardRoutes.post("/admin/templates/:id", async (c) => {
  const id = c.req.param("id");
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
    return render(
      c,
      <TemplatePage id={id} values={values} preview={null} problems={problems} contact={who} saved={false} csrf={c.var.csrf} />,
      422,
    );
  }
  const { template } = await saveTemplate(c.var.db, id, toContent(parsed.data), Date.now());
  const preview = await previewFor(c, template, who);
  return render(
    c,
    <TemplatePage
      id={id}
      values={values}
      preview={preview.email}
      problems={preview.problem ? [preview.problem] : []}
      contact={who}
      saved
      csrf={c.var.csrf}
    />,
  );
});

/** Answers an email's HTML for a sandboxed frame. */
function mailFrame(c: Context, html: string) {
  c.header("Content-Security-Policy", MAIL_FRAME_CSP);
  c.header("X-Frame-Options", "SAMEORIGIN");
  c.header("Cache-Control", "no-store");
  return c.html(html);
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
  return render(c, <MailboxMessagePage message={message} csrf={c.var.csrf} />);
});

dashboardRoutes.get("/admin/mailbox/:id/html", async (c) => {
  const message = await findMessage(c.var.db, c.req.param("id"));
  if (!message?.html) return render(c, <ProblemPage title="No such message" message="There is no rendered message with that id." />, 404);
  return mailFrame(c, message.html);
});

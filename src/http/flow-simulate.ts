/**
 * `POST /v1/flows/simulate` (a draft definition in the body) and `POST /v1/flows/:id/simulate` (the stored
 * flow): what the flow would have done over the last `days` (at most 30). The contacts with the trigger's events
 * in that window have their stored events replayed through the live interpreter with a simulated clock
 * (flows/replay); nothing is sent or written. Bounded so that it answers within seconds: at most
 * SIMULATION_BOUNDS.contacts contacts and SIMULATION_BOUNDS.eventsPerContact events each, both stated in the answer.
 * The dashboard's flow page runs the same `simulateFlow`.
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Database } from "../db/client";
import { findContact, loadContactFactsByIds } from "../db/contacts";
import { findFlow } from "../db/flows";
import { contactEventHistory, contactsWithEvents } from "../db/history";
import type { TemplateRow } from "../db/schema";
import { findTemplate } from "../db/templates";
import { plainLiquid } from "../delivery/liquid";
import { draftMessage } from "../delivery/preview";
import { templateContext } from "../delivery/render";
import type { Config } from "../env";
import { triggerEventNames } from "../flows/interpreter";
import { type ReplayedEnrollment, replayContact, summarise } from "../flows/replay";
import { Flow } from "../flows/schema";
import { webhookPolicy } from "../flows/webhook-url";
import { ApiError } from "./errors";
import { graphProblems } from "./flows";
import { createRouter, jsonBody, jsonResponse } from "./router";
import { ErrorSchema } from "./shared-schemas";

/** The bounds of one simulation. */
export const SIMULATION_BOUNDS = {
  days: 30,
  contacts: 500,
  eventsPerContact: 100,
  /** Contacts whose emails are shown… */
  samples: 5,
  /** …and at most this many of their enrollments in all (a contact may re-enter). */
  sampleEnrollments: 10,
} as const;
/** Contacts whose events are read per query (100 events each keeps a result at 10,000 rows). */
const CONTACTS_PER_QUERY = 100;
const DAY_MS = 24 * 3600 * 1000;

/** How many days back a simulation replays (the dashboard's form checks its field with it too). */
export const SimulationDays = z.number().int().min(1).max(SIMULATION_BOUNDS.days);

const Days = SimulationDays.optional().openapi({
  description: `How many days back to replay (default and most: ${SIMULATION_BOUNDS.days})`,
});

const DraftInput = z.object({ definition: Flow, days: Days }).strict().openapi("FlowSimulationDraftInput");
const StoredInput = z.object({ days: Days }).strict().openapi("FlowSimulationInput");

const SimulationResult = z
  .object({
    flow_id: z.string(),
    window: z.object({ from: z.string(), to: z.string(), days: z.number().int() }),
    bounds: z.object({
      contacts: z.number().int(),
      events_per_contact: z.number().int(),
      days: z.number().int(),
      contacts_truncated: z
        .boolean()
        .openapi({ description: "More contacts matched the trigger than the bound; only the first were replayed" }),
    }),
    contacts_replayed: z.number().int(),
    contacts_entered: z.number().int(),
    entered: z.number().int().openapi({ description: "Enrollments (a contact may enter more than once under its re-entry rule)" }),
    goal_reached: z.number().int(),
    still_active: z.number().int().openapi({ description: "Enrollments still running at the window's end" }),
    ended: z.record(z.string(), z.number().int()).openapi({ description: "Ended enrollments by reason" }),
    steps: z.array(z.object({ id: z.string(), type: z.string(), reached: z.number().int(), emails: z.number().int() })),
    samples: z.array(
      z.object({
        contact_id: z.string(),
        email: z.string(),
        entered_at: z.string(),
        status: z.string(),
        end_reason: z.string().nullable(),
        emails: z.array(
          z.object({
            step_id: z.string(),
            kind: z.enum(["email", "notify"]),
            template_id: z.string(),
            variant: z.string().nullable(),
            subject: z.string().nullable().openapi({ description: "Rendered for the contact; null when the template is gone" }),
            at: z.string(),
          }),
        ),
      }),
    ),
  })
  .openapi("FlowSimulation");

const idParam = z.object({
  id: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: "id", in: "path" } }),
});

const responses = {
  200: jsonResponse(SimulationResult, "What the flow would have done; nothing was sent or written"),
  422: jsonResponse(ErrorSchema, "The definition is invalid, or its trigger cannot be replayed from events"),
};

const routes = {
  draft: createRoute({
    method: "post",
    path: "/v1/flows/simulate",
    tags: ["flows"],
    summary: "Replay the last days' stored events through a draft flow, sending and writing nothing",
    request: { body: jsonBody(DraftInput) },
    responses,
  }),
  stored: createRoute({
    method: "post",
    path: "/v1/flows/{id}/simulate",
    tags: ["flows"],
    summary: "Replay the last days' stored events through a stored flow, sending and writing nothing",
    request: { params: idParam, body: jsonBody(StoredInput) },
    responses: { ...responses, 404: jsonResponse(ErrorSchema, "No such flow") },
  }),
};

/** The event names (and changed attribute) whose stored occurrences can start the flow, or a 422 for other triggers. */
function replayableTrigger(flow: Flow): { names: string[]; attribute: string | null } {
  const t = flow.trigger;
  if ("event" in t) return { names: triggerEventNames(t), attribute: null };
  if ("attribute_changed" in t) return { names: ["attribute_changed"], attribute: t.attribute_changed };
  throw new ApiError(
    422,
    "simulation_unsupported",
    "Only event and attribute_changed triggers can be simulated: segment, date and inactivity triggers are not stored as events",
  );
}

/** What a simulation answers (the API's body, and what the dashboard's result page shows). */
export type FlowSimulation = z.infer<typeof SimulationResult>;

/** Replays the last `days` of stored events through `flow` (stored as `flowId`), writing nothing; a 422 ApiError for a trigger that cannot be replayed. */
export async function simulateFlow(db: Database, config: Config, flowId: string, flow: Flow, days: number): Promise<FlowSimulation> {
  const { names, attribute } = replayableTrigger(flow);
  const to = Date.now();
  const from = to - days * DAY_MS;
  const matched = await contactsWithEvents(db, names, attribute, from, to, SIMULATION_BOUNDS.contacts + 1);
  const ids = matched.slice(0, SIMULATION_BOUNDS.contacts);
  const definition = { ...flow, id: flowId };
  const replayed: { contactId: string; email: string; enrollments: ReplayedEnrollment[] }[] = [];
  for (let i = 0; i < ids.length; i += CONTACTS_PER_QUERY) {
    const chunk = ids.slice(i, i + CONTACTS_PER_QUERY);
    const [contacts, history] = await Promise.all([
      loadContactFactsByIds(db, chunk),
      contactEventHistory(db, chunk, from, to, SIMULATION_BOUNDS.eventsPerContact),
    ]);
    for (const contact of contacts) {
      const enrollments = replayContact({ flow: definition, contact, events: history.get(contact.id) ?? [], from, to });
      replayed.push({ contactId: contact.id, email: contact.email, enrollments });
    }
  }
  const summary = summarise(
    definition,
    replayed.map((r) => r.enrollments),
  );
  return {
    flow_id: flowId,
    window: { from: new Date(from).toISOString(), to: new Date(to).toISOString(), days },
    bounds: {
      contacts: SIMULATION_BOUNDS.contacts,
      events_per_contact: SIMULATION_BOUNDS.eventsPerContact,
      days: SIMULATION_BOUNDS.days,
      contacts_truncated: matched.length > SIMULATION_BOUNDS.contacts,
    },
    contacts_replayed: replayed.length,
    contacts_entered: summary.contactsEntered,
    entered: summary.entered,
    goal_reached: summary.goalReached,
    still_active: summary.stillActive,
    ended: summary.ended,
    steps: summary.steps,
    samples: await samplesOf(db, config, definition, replayed),
  };
}

/** The first few contacts who entered, each enrollment with its emails, subjects rendered for the contact. */
async function samplesOf(
  db: Database,
  config: Config,
  flow: Flow,
  replayed: { contactId: string; email: string; enrollments: ReplayedEnrollment[] }[],
) {
  const templates = new Map<string, TemplateRow | undefined>();
  const samples = [];
  for (const r of replayed.filter((x) => x.enrollments.length > 0).slice(0, SIMULATION_BOUNDS.samples)) {
    const contact = await findContact(db, r.contactId);
    for (const e of r.enrollments.slice(0, SIMULATION_BOUNDS.sampleEnrollments - samples.length)) {
      const emails = [];
      for (const m of e.emails) {
        if (!templates.has(m.templateId)) templates.set(m.templateId, await findTemplate(db, m.templateId));
        const template = templates.get(m.templateId);
        const source = m.subject ?? template?.subject;
        emails.push({
          step_id: m.stepId,
          kind: m.kind,
          template_id: m.templateId,
          variant: m.variant,
          subject: source === undefined ? null : await renderSubject(source, flow, e, contact ?? null, config),
          at: new Date(m.at).toISOString(),
        });
      }
      samples.push({
        contact_id: r.contactId,
        email: r.email,
        entered_at: new Date(e.state.enteredAt).toISOString(),
        status: e.state.status,
        end_reason: e.state.endReason,
        emails,
      });
    }
  }
  return samples.slice(0, SIMULATION_BOUNDS.sampleEnrollments);
}

/** A subject as the real send would render it for this contact and trigger; the source itself when its Liquid fails. */
async function renderSubject(
  subject: string,
  flow: Flow,
  enrollment: ReplayedEnrollment,
  contact: Parameters<typeof templateContext>[1],
  config: Config,
): Promise<string> {
  const trigger = enrollment.state.trigger;
  const message = draftMessage(
    {
      id: "simulation",
      kind: "marketing",
      toEmail: contact?.email ?? "",
      templateId: null,
      context: {
        event: { name: trigger.name, properties: trigger.properties, value: trigger.value, ts: trigger.ts },
        flow: { id: flow.id, name: flow.name },
      },
    },
    enrollment.state.enteredAt,
  );
  try {
    return await plainLiquid.parseAndRender(subject, templateContext(message, contact, config, `${config.PUBLIC_URL}/u/simulation`));
  } catch {
    return subject;
  }
}

export const flowSimulationRoutes = createRouter()
  .openapi(routes.draft, async (c) => {
    const { definition, days } = c.req.valid("json");
    const problems = await graphProblems(c.var.db, definition, webhookPolicy(c.var.config.PUBLIC_URL));
    if (problems.length > 0) throw new ApiError(422, "validation_failed", "The flow is invalid", problems);
    return c.json(await simulateFlow(c.var.db, c.var.config, definition.id ?? "draft", definition, days ?? SIMULATION_BOUNDS.days), 200);
  })
  .openapi(routes.stored, async (c) => {
    const flow = await findFlow(c.var.db, c.req.valid("param").id);
    if (!flow) throw new ApiError(404, "not_found", "No such flow");
    const days = c.req.valid("json").days ?? SIMULATION_BOUNDS.days;
    return c.json(await simulateFlow(c.var.db, c.var.config, flow.id, flow.definition, days), 200);
  });

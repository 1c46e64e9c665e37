/**
 * The whole D1 schema. Every table, its indexes and its row types live here;
 * migrations are generated from this file by drizzle-kit and never edited by hand.
 * Times are integer milliseconds since the epoch (UTC); JSON columns hold text.
 */
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/**
 * Consent states of SPEC section 9; `none` is a customer or lead who never opted in (transactional mail only). The
 * column's SQL default stays `subscribed` (changing it would rebuild the table): every insert sets consent itself.
 */
export const CONSENT_STATES = ["subscribed", "pending", "unsubscribed", "none"] as const;
export type Consent = (typeof CONSENT_STATES)[number];

export const contacts = sqliteTable(
  "contacts",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    firstName: text("first_name"),
    lastName: text("last_name"),
    timezone: text("timezone"),
    consent: text("consent", { enum: CONSENT_STATES }).notNull().default("subscribed"),
    consentChangedAt: integer("consent_changed_at"),
    lifecycleStage: text("lifecycle_stage"),
    attributes: text("attributes", { mode: "json" }).$type<Record<string, unknown>>().notNull().default({}),
    tags: text("tags", { mode: "json" }).$type<string[]>().notNull().default([]),
    // System attributes of SPEC section 5, maintained by the engine.
    lastOpenedAt: integer("last_opened_at"),
    lastClickedAt: integer("last_clicked_at"),
    lastOrderAt: integer("last_order_at"),
    ordersCount: integer("orders_count").notNull().default(0),
    totalSpent: real("total_spent").notNull().default(0),
    unopenedStreak: integer("unopened_streak").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("contacts_email_unique").on(t.email),
    index("contacts_lifecycle_idx").on(t.lifecycleStage),
    index("contacts_last_engaged_idx").on(t.lastOpenedAt, t.lastClickedAt),
  ],
);
export type ContactRow = typeof contacts.$inferSelect;
export type NewContactRow = typeof contacts.$inferInsert;

/** Where an event came from; `snippet` events were sent with the public site key (SPEC section 11). */
export const EVENT_SOURCES = ["api", "snippet", "system", "webhook"] as const;
export type EventSource = (typeof EVENT_SOURCES)[number];

/** Every event, from the API, the snippet or the system. `id` is the client's idempotency id when given. */
export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    contactId: text("contact_id"),
    anonymousId: text("anonymous_id"),
    name: text("name").notNull(),
    properties: text("properties", { mode: "json" }).$type<Record<string, unknown>>().notNull().default({}),
    value: real("value"),
    source: text("source", { enum: EVENT_SOURCES }).notNull(),
    /** Opens and clicks by proxies and scanners: kept, but never start flows or count in rates. */
    machine: integer("machine", { mode: "boolean" }).notNull().default(false),
    messageId: text("message_id"),
    ts: integer("ts").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [
    index("events_contact_name_ts_idx").on(t.contactId, t.name, t.ts),
    index("events_anonymous_idx").on(t.anonymousId),
    index("events_message_idx").on(t.messageId),
    index("events_ts_idx").on(t.ts),
    // Retention (db/retention.ts) walks only the tracking events it may delete; the list matches EXPIRING_EVENT_NAMES.
    index("events_expiring_ts_idx")
      .on(t.ts)
      .where(
        sql`name IN ('email_sent', 'email_delivered', 'email_delivery_delayed', 'email_opened', 'email_clicked', 'email_bounced', 'email_complained', 'page_viewed')`,
      ),
  ],
);
export type EventRow = typeof events.$inferSelect;
export type NewEventRow = typeof events.$inferInsert;

/**
 * Stored events their contact's ContactTimer has not processed yet, because every call to it failed; the
 * every-minute cron hands them over again until it takes them (it ignores an event id it has seen).
 */
export const undispatchedEvents = sqliteTable(
  "undispatched_events",
  {
    eventId: text("event_id").primaryKey(),
    contactId: text("contact_id").notNull(),
    attempts: integer("attempts").notNull().default(1),
    nextAt: integer("next_at").notNull(),
    lastError: text("last_error"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("undispatched_events_next_idx").on(t.nextAt)],
);

/**
 * Opens and clicks the tracking queue gave up on (its dead-letter queue, written by tracking/consumer.ts), kept until
 * the dashboard sends them back to the queue. `id` is the queue message's id, so a redelivered dead letter is kept once.
 */
export const trackingDeadLetters = sqliteTable(
  "tracking_dead_letters",
  {
    id: text("id").primaryKey(),
    /** The queue message's body, as sent (JSON). */
    body: text("body").notNull(),
    /** Why it was given up: its retries ran out, or its body is not an open or a click. */
    reason: text("reason").notNull(),
    /** When the open or click was first queued. */
    queuedAt: integer("queued_at").notNull(),
    deadAt: integer("dead_at").notNull(),
  },
  (t) => [index("tracking_dead_letters_dead_idx").on(t.deadAt)],
);

/** Snippet visitors' anonymous ids, joined to a contact once identified. */
export const identities = sqliteTable(
  "identities",
  {
    anonymousId: text("anonymous_id").primaryKey(),
    contactId: text("contact_id").notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("identities_contact_idx").on(t.contactId)],
);

export const FLOW_STATUSES = ["draft", "active", "paused"] as const;
export type FlowStatus = (typeof FLOW_STATUSES)[number];

/** The current definition of each flow; every saved version is also in `flow_versions`. */
export const flows = sqliteTable(
  "flows",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    status: text("status", { enum: FLOW_STATUSES }).notNull().default("draft"),
    version: integer("version").notNull(),
    definition: text("definition", { mode: "json" }).$type<unknown>().notNull(),
    /** What starts the flow, as an index key: `event:<name>`, `segment:<id>`, `attribute:<name>`, `date`, `inactive`. */
    triggerKey: text("trigger_key").notNull(),
    transactional: integer("transactional", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("flows_status_trigger_idx").on(t.status, t.triggerKey)],
);
export type FlowRow = typeof flows.$inferSelect;

export const flowVersions = sqliteTable(
  "flow_versions",
  {
    flowId: text("flow_id").notNull(),
    version: integer("version").notNull(),
    definition: text("definition", { mode: "json" }).$type<unknown>().notNull(),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.flowId, t.version] })],
);

/** Mirror of each enrollment held by a ContactTimer, for reports and the profile. */
export const enrollments = sqliteTable(
  "enrollments",
  {
    id: text("id").primaryKey(),
    contactId: text("contact_id").notNull(),
    flowId: text("flow_id").notNull(),
    flowVersion: integer("flow_version").notNull(),
    status: text("status", { enum: ["active", "exited", "completed"] }).notNull(),
    currentStep: text("current_step"),
    exitReason: text("exit_reason"),
    enteredAt: integer("entered_at").notNull(),
    exitedAt: integer("exited_at"),
    convertedAt: integer("converted_at"),
  },
  (t) => [index("enrollments_contact_idx").on(t.contactId), index("enrollments_flow_status_idx").on(t.flowId, t.status)],
);
export type EnrollmentRow = typeof enrollments.$inferSelect;

export const templates = sqliteTable("templates", {
  id: text("id").primaryKey(),
  subject: text("subject").notNull(),
  html: text("html").notNull(),
  text: text("text"),
  from: text("from"),
  replyTo: text("reply_to"),
  preheader: text("preheader"),
  /** Hash of the library content it was installed from; differs once a user edits it. */
  libraryHash: text("library_hash"),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});
export type TemplateRow = typeof templates.$inferSelect;

export const MESSAGE_STATUSES = ["queued", "sending", "sent", "failed", "suppressed", "cancelled"] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export const MESSAGE_KINDS = ["marketing", "transactional", "notify", "confirmation", "test"] as const;
export type MessageKind = (typeof MESSAGE_KINDS)[number];

/** The outbox and its history. `id` is derived deterministically from enrollment, step and visit. */
export const messages = sqliteTable(
  "messages",
  {
    id: text("id").primaryKey(),
    contactId: text("contact_id"),
    toEmail: text("to_email").notNull(),
    kind: text("kind", { enum: MESSAGE_KINDS }).notNull(),
    flowId: text("flow_id"),
    flowVersion: integer("flow_version"),
    enrollmentId: text("enrollment_id"),
    stepId: text("step_id"),
    variant: text("variant"),
    templateId: text("template_id"),
    /** The broadcast this message belongs to (SPEC section 10); null for flow mail. */
    broadcastId: text("broadcast_id"),
    /** The triggering event and other data the template may read. */
    context: text("context", { mode: "json" }).$type<Record<string, unknown>>().notNull().default({}),
    status: text("status", { enum: MESSAGE_STATUSES }).notNull(),
    dueAt: integer("due_at").notNull(),
    attempts: integer("attempts").notNull().default(0),
    leaseUntil: integer("lease_until"),
    batchId: text("batch_id"),
    providerId: text("provider_id"),
    reason: text("reason"),
    // The rendered email, kept as sent (dev mailbox, audit).
    subject: text("subject"),
    fromEmail: text("from_email"),
    html: text("html"),
    text: text("text"),
    headers: text("headers", { mode: "json" }).$type<Record<string, string>>(),
    createdAt: integer("created_at").notNull(),
    sentAt: integer("sent_at"),
    deliveredAt: integer("delivered_at"),
    openedAt: integer("opened_at"),
    clickedAt: integer("clicked_at"),
    bouncedAt: integer("bounced_at"),
    complainedAt: integer("complained_at"),
  },
  (t) => [
    index("messages_status_due_idx").on(t.status, t.dueAt),
    index("messages_contact_idx").on(t.contactId, t.createdAt),
    index("messages_flow_idx").on(t.flowId, t.stepId),
    index("messages_enrollment_idx").on(t.enrollmentId),
    index("messages_batch_idx").on(t.batchId),
    index("messages_provider_idx").on(t.providerId),
    index("messages_created_idx").on(t.createdAt),
    // Retention clears bodies of old sent messages; a cleared row leaves this index, so no run reads it again.
    index("messages_body_sent_idx").on(t.sentAt).where(sql`html IS NOT NULL`),
    index("messages_broadcast_idx").on(t.broadcastId, t.status),
  ],
);
export type MessageRow = typeof messages.$inferSelect;
export type NewMessageRow = typeof messages.$inferInsert;

export const BROADCAST_STATUSES = ["draft", "scheduled", "sending", "sent", "cancelled"] as const;
export type BroadcastStatus = (typeof BROADCAST_STATUSES)[number];

/**
 * One-off campaigns (SPEC section 10). `definition` is the validated input; the rest is the fan-out's progress:
 * `cursor` is the last contact id queued (contacts are paged in id order), `fixed` how many audience rows are queued
 * so far (the A/B sample is drawn from that ordinal), `winner` the A/B decision once made.
 */
export const broadcasts = sqliteTable(
  "broadcasts",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    definition: text("definition", { mode: "json" }).$type<unknown>().notNull(),
    status: text("status", { enum: BROADCAST_STATUSES }).notNull().default("draft"),
    sendAt: integer("send_at"),
    cursor: text("cursor"),
    fixed: integer("fixed").notNull().default(0),
    fannedOutAt: integer("fanned_out_at"),
    winner: text("winner", { mode: "json" }).$type<Record<string, unknown>>(),
    startedAt: integer("started_at"),
    finishedAt: integer("finished_at"),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("broadcasts_status_send_idx").on(t.status, t.sendAt)],
);
export type BroadcastRow = typeof broadcasts.$inferSelect;

/**
 * One row per request SEND_RATE_PER_SECOND allows in a rolling second: when
 * that slot frees again, counted from when its last request really went out.
 * Every sender (cron runs, immediate sends) takes its slot here, so together
 * they stay under the rate however many run at once.
 */
export const sendGate = sqliteTable("send_gate", {
  id: integer("id").primaryKey(),
  nextAt: integer("next_at").notNull(),
});

/** A provider request with a persisted id: its idempotency key, reused on every retry. */
export const sendBatches = sqliteTable(
  "send_batches",
  {
    id: text("id").primaryKey(),
    status: text("status", { enum: ["open", "done"] }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    createdAt: integer("created_at").notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("send_batches_status_idx").on(t.status)],
);

/** The links of each sent message, addressed by index from `/c/` tokens. */
export const links = sqliteTable(
  "links",
  {
    messageId: text("message_id").notNull(),
    idx: integer("idx").notNull(),
    url: text("url").notNull(),
  },
  (t) => [primaryKey({ columns: [t.messageId, t.idx] })],
);

export const suppressions = sqliteTable(
  "suppressions",
  {
    email: text("email").primaryKey(),
    /** `erased`: the entry of an erased person with no other reason; its `email` is their erased key (db/suppressions). */
    reason: text("reason", { enum: ["hard_bounce", "complaint", "manual", "erased"] }).notNull(),
    detail: text("detail"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [index("suppressions_created_idx").on(t.createdAt)],
);

export type SuppressionRow = typeof suppressions.$inferSelect;

export const segments = sqliteTable("segments", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  condition: text("condition", { mode: "json" }).$type<unknown>().notNull(),
  createdAt: integer("created_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

/** Svix message ids already processed, so a redelivered webhook is handled once. */
export const webhookReceipts = sqliteTable("webhook_receipts", {
  svixId: text("svix_id").primaryKey(),
  receivedAt: integer("received_at").notNull(),
});

/** The last webhook each connector (src/connect) received, so the dashboard's Connect page shows it working. */
export const connectorDeliveries = sqliteTable("connector_deliveries", {
  platform: text("platform").primaryKey(),
  deliveryId: text("delivery_id"),
  topic: text("topic"),
  /** `processed`, `duplicate` or `ignored`; a request with a bad signature writes nothing, so it never appears here. */
  result: text("result", { enum: ["processed", "duplicate", "ignored"] }).notNull(),
  detail: text("detail"),
  receivedAt: integer("received_at").notNull(),
});
export type ConnectorDeliveryRow = typeof connectorDeliveries.$inferSelect;

/**
 * Report rollups: one row per UTC day × flow × step × variant, maintained as
 * events are recorded so that reports never scan `events`. `flow_id` is ''
 * for email events outside any flow; `step_id` is '' for flow-level counters
 * (entered, goal completions); `variant` is '' when the step has no variants.
 */
export const statsDaily = sqliteTable(
  "stats_daily",
  {
    flowId: text("flow_id").notNull(),
    day: text("day").notNull(),
    stepId: text("step_id").notNull().default(""),
    variant: text("variant").notNull().default(""),
    entered: integer("entered").notNull().default(0),
    sent: integer("sent").notNull().default(0),
    delivered: integer("delivered").notNull().default(0),
    uniqueOpens: integer("unique_opens").notNull().default(0),
    uniqueClicks: integer("unique_clicks").notNull().default(0),
    machineOpens: integer("machine_opens").notNull().default(0),
    machineClicks: integer("machine_clicks").notNull().default(0),
    bounces: integer("bounces").notNull().default(0),
    complaints: integer("complaints").notNull().default(0),
    unsubscribes: integer("unsubscribes").notNull().default(0),
    /** Orders attributed to an email of this step (see reports/attribution). */
    conversions: integer("conversions").notNull().default(0),
    /** Goal completions reported by the flow engine. */
    goals: integer("goals").notNull().default(0),
    revenue: real("revenue").notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.flowId, t.day, t.stepId, t.variant] }), index("stats_daily_day_idx").on(t.day)],
);
export type StatsDailyRow = typeof statsDaily.$inferSelect;

/** A/B winners decided by reports/abtest: once decided, the winner takes all later sends of the step. */
export const abWinners = sqliteTable(
  "ab_winners",
  {
    flowId: text("flow_id").notNull(),
    stepId: text("step_id").notNull(),
    templateId: text("template_id").notNull(),
    decidedAt: integer("decided_at").notNull(),
    pValue: real("p_value").notNull(),
  },
  (t) => [primaryKey({ columns: [t.flowId, t.stepId] })],
);
export type AbWinnerRow = typeof abWinners.$inferSelect;

export const CONTACT_SCAN_KINDS = ["resume", "date", "inactive"] as const;
export type ContactScanKind = (typeof CONTACT_SCAN_KINDS)[number];

/**
 * Walks over a flow's contacts that take more than one invocation (contact/contact-scans): waking a resumed flow's
 * enrollments, a date or inactivity scan. One row per running walk, `kind:flowId`; `cursor` is the last contact id
 * handed over (contacts are walked in id order), so a crash repeats at most one page, whose hand-overs are idempotent.
 * The row is deleted when the walk reaches the end.
 */
export const contactScans = sqliteTable("contact_scans", {
  id: text("id").primaryKey(),
  kind: text("kind", { enum: CONTACT_SCAN_KINDS }).notNull(),
  flowId: text("flow_id").notNull(),
  cursor: text("cursor").notNull().default(""),
  startedAt: integer("started_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});
export type ContactScanRow = typeof contactScans.$inferSelect;

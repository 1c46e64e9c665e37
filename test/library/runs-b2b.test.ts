import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ContactTimer } from "../../src/contact/contact-timer";
import type { Flow } from "../../src/flows/schema";
import worker from "../../src/index";
import { contactId, enrollmentsOf, fireAlarm, messagesOf, sleep, timerOf, track } from "../helpers/flows";
import { activeLibraryFlow, shortened } from "../helpers/library";
import { eventsNamed, eventually, visit } from "../helpers/tracking";

/** Installs the entry's real templates (the flow it installs stays paused), then activates `definition`. */
const templatesOf = async (id: string) => (await messagesOf(id)).map((m) => m.template_id);

async function tagsOf(id: string): Promise<string[]> {
  const row = await env.DB.prepare("SELECT tags FROM contacts WHERE id = ?").bind(id).first<{ tags: string }>();
  return JSON.parse(row?.tags ?? "[]");
}

/** When the contact's latest enrollment next wakes up (null once it has ended). */
async function wakeAt(id: string): Promise<number | null> {
  const [state] = await runInDurableObject(timerOf(id), (timer) => (timer as unknown as ContactTimer).enrollmentStates());
  return state?.wakeAt ?? null;
}

/** The daily job, which scans date triggers. */
async function runDailyCron(at = Date.now()): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ cron: "17 3 * * *", scheduledTime: at }), env, ctx);
  await waitOnExecutionContext(ctx);
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * A person's click on the email a step sent, stored as the tracker stores it (the tracker's own path is tested
 * with the healthcare run below): direct, so that it is in D1 before the shortened wait ends, however busy the machine.
 */
async function clicked(contact: string, stepId: string): Promise<void> {
  const [message] = (await messagesOf(contact)).filter((m) => m.step_id === stepId);
  expect(message, `no message of ${stepId}`).toBeDefined();
  await env.DB.prepare(
    `INSERT INTO events (id, contact_id, name, properties, source, machine, message_id, ts, received_at)
     VALUES (?1, ?2, 'email_clicked', ?3, 'system', 0, ?4, ?5, ?5)`,
  )
    .bind(
      `evt_click_${message!.id}`,
      contact,
      JSON.stringify({ flow_id: message!.flow_id, step_id: stepId, url: "https://example.com/guide" }),
      message!.id,
      Date.now(),
    )
    .run();
}

async function contactRow(id: string) {
  const row = await env.DB.prepare("SELECT lifecycle_stage, attributes FROM contacts WHERE id = ?")
    .bind(id)
    .first<{ lifecycle_stage: string; attributes: string }>();
  return { stage: row?.lifecycle_stage, attributes: JSON.parse(row?.attributes ?? "{}") as Record<string, unknown> };
}

/**
 * The library flow with its first wait at 2 s and its second at 6 s: a click stored at once lands well before the
 * wait after its email ends, however busy the machine (the contact's alarms also fire on their own).
 */
function withScoringWaits(name: string) {
  const flow = shortened(name);
  const waits: Record<string, string> = { educate_wait_1: "2s", educate_wait_2: "6s" };
  return {
    ...flow,
    steps: flow.steps.map((s) => ({
      ...(s as object),
      ...(waits[(s as { id: string }).id] ? { for: waits[(s as { id: string }).id] } : {}),
    })),
  };
}

/** Fires the contact's alarm until their messages satisfy `check`. */
function untilMessages(id: string, check: (templates: string[]) => boolean) {
  return eventually(
    async () => {
      await fireAlarm(id);
      return templatesOf(id);
    },
    check,
    15_000,
  );
}

describe("lead nurturing run", () => {
  it("scores each education email clicked and promotes a lead at 20 points to marketing_qualified", async () => {
    await activeLibraryFlow("lead-nurturing", withScoringWaits("lead-nurturing"));
    const id = await contactId("libb-lead-score@example.com", { first_name: "Sam", lifecycle_stage: "lead" });
    await clicked(id, "educate_1");
    await untilMessages(id, (t) => t.includes("lead-nurture-2"));
    expect((await contactRow(id)).attributes.lead_score).toBe(10);
    await clicked(id, "educate_2");
    await untilMessages(id, (t) => t.includes("lead-nurture-3"));
    expect(await contactRow(id)).toMatchObject({ stage: "marketing_qualified", attributes: { lead_score: 20 } });
    expect(await templatesOf(id)).toEqual(["lead-nurture-1", "lead-nurture-2", "lead-nurture-3"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "exited", exit_reason: "exit_step" }]);
  });

  it("keeps a lead with one click at 10 points, still a lead", async () => {
    await activeLibraryFlow("lead-nurturing", withScoringWaits("lead-nurturing"));
    const id = await contactId("libb-lead-half@example.com", { lifecycle_stage: "lead" });
    await clicked(id, "educate_1");
    await untilMessages(id, (t) => t.includes("lead-nurture-3"));
    expect(await contactRow(id)).toMatchObject({ stage: "lead", attributes: { lead_score: 10 } });
    expect(await templatesOf(id)).toEqual(["lead-nurture-1", "lead-nurture-2", "lead-nurture-3"]);
  });

  it("educates a lead, switching email 2 to the healthcare version after a click on a healthcare link", async () => {
    await activeLibraryFlow("lead-nurturing", shortened("lead-nurturing"));
    const id = await contactId("libb-lead-health@example.com", { first_name: "Lena", lifecycle_stage: "lead" });
    const [intro] = await messagesOf(id);
    expect(intro).toMatchObject({ template_id: "lead-nurture-1", status: "sent" });

    // A person clicks the healthcare link of email 1 an hour after it was sent (sooner reads as a scanner).
    await env.DB.prepare("UPDATE messages SET sent_at = ? WHERE id = ?")
      .bind(Date.now() - HOUR, intro!.id)
      .run();
    const link = await env.DB.prepare("SELECT idx FROM links WHERE message_id = ? AND url LIKE '%topic=healthcare%'")
      .bind(intro!.id)
      .first<{ idx: number }>();
    const html = (await env.DB.prepare("SELECT html FROM messages WHERE id = ?").bind(intro!.id).first<{ html: string }>())!.html;
    const tokens = [...html.matchAll(/href="https:\/\/nurture\.test\/c\/([^"]+)"/g)].map((m) => m[1]);
    expect((await visit(`/c/${tokens[link!.idx]}`)).status).toBe(302);
    await eventually(
      () => eventsNamed(id, "email_clicked"),
      (events) => events.length === 1 && events[0]?.machine === 0,
    );

    await sleep(1100);
    await fireAlarm(id);
    expect(await templatesOf(id)).toEqual(["lead-nurture-1", "lead-nurture-2-healthcare"]);
    expect(await tagsOf(id)).toContain("interest_healthcare");
    await sleep(1100);
    await fireAlarm(id);
    const messages = await messagesOf(id);
    expect(messages.map((m) => m.template_id)).toEqual(["lead-nurture-1", "lead-nurture-2-healthcare", "lead-nurture-3"]);
    expect(messages.map((m) => m.status)).toEqual(["sent", "sent", "sent"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "lead-nurturing-run", status: "exited", exit_reason: "exit_step" }]);
  });

  it("sends the general email 2 without a healthcare click, and moves a lead who becomes a customer to onboarding", async () => {
    await activeLibraryFlow("lead-nurturing", shortened("lead-nurturing"));
    const id = await contactId("libb-lead-customer@example.com", { first_name: "Carl", lifecycle_stage: "lead" });
    await sleep(1100);
    await fireAlarm(id);
    expect(await templatesOf(id)).toEqual(["lead-nurture-1", "lead-nurture-2"]);
    expect(await tagsOf(id)).not.toContain("interest_healthcare");

    await contactId("libb-lead-customer@example.com", { lifecycle_stage: "customer" });
    expect(await templatesOf(id)).toEqual(["lead-nurture-1", "lead-nurture-2", "onboarding-1"]);
    await sleep(1100);
    await fireAlarm(id);
    await sleep(1100);
    await fireAlarm(id);
    const messages = await messagesOf(id);
    expect(messages.map((m) => m.template_id)).toEqual([
      "lead-nurture-1",
      "lead-nurture-2",
      "onboarding-1",
      "onboarding-2",
      "onboarding-3",
    ]);
    expect(messages.every((m) => m.status === "sent")).toBe(true);
    expect(await enrollmentsOf(id)).toMatchObject([
      { status: "exited", exit_reason: "exit_event" },
      { status: "exited", exit_reason: "exit_step" },
    ]);
  });
});

describe("sales-rep alert run", () => {
  it("emails the owner of a lead viewing pricing with the lead's profile, once per cooldown; customers and other pages do not alert", async () => {
    await activeLibraryFlow("sales-rep-alert", shortened("sales-rep-alert"));
    const lead = await contactId("libb-rep-lead@example.com", {
      first_name: "Lena",
      last_name: "Park",
      lifecycle_stage: "lead",
      attributes: { company: "Northwind Clinics", owner_email: "libb-owner@example.com" },
    });
    const customer = await contactId("libb-rep-customer@example.com", {
      lifecycle_stage: "customer",
      attributes: { owner_email: "libb-owner@example.com" },
    });
    await env.DB.prepare("UPDATE contacts SET last_opened_at = ? WHERE id = ?")
      .bind(Date.UTC(2026, 2, 3, 14, 5), lead)
      .run();

    await track({
      email: "libb-rep-lead@example.com",
      name: "page_viewed",
      properties: { url: "https://shop.test/blog/tips", title: "Tips" },
    });
    expect(await messagesOf(lead)).toEqual([]);
    const pricing = { url: "https://shop.test/pricing?plan=team", title: "Pricing" };
    await track({ email: "libb-rep-lead@example.com", name: "page_viewed", properties: pricing });
    await track({ email: "libb-rep-lead@example.com", name: "page_viewed", properties: pricing });
    await track({ email: "libb-rep-customer@example.com", name: "page_viewed", properties: pricing });

    const alerts = await messagesOf(lead);
    expect(alerts).toMatchObject([{ template_id: "sales-rep-alert", kind: "notify", to_email: "libb-owner@example.com", status: "sent" }]);
    const sent = await env.DB.prepare("SELECT subject, html FROM messages WHERE id = ?")
      .bind(alerts[0]!.id)
      .first<{ subject: string; html: string }>();
    expect(sent?.subject).toBe("Hot lead: Lena Park (Northwind Clinics) is looking at pricing");
    for (const fact of [
      "libb-rep-lead@example.com",
      "Northwind Clinics",
      "lead",
      "3 Mar 2026, 14:05 UTC",
      "https://shop.test/pricing?plan=team",
    ]) {
      expect(sent?.html).toContain(fact);
    }
    expect(sent?.html).toContain(`https://nurture.test/admin/contacts/${lead}`);
    expect(await messagesOf(customer)).toEqual([]);
  });
});

describe("NPS run", () => {
  it("asks a promoter for a review; a later low score apologises and tags the detractor with the reason instead", async () => {
    await activeLibraryFlow("nps", shortened("nps"));
    const id = await contactId("libb-nps@example.com", { first_name: "Nora" });
    await track({
      email: "libb-nps@example.com",
      name: "nps_submitted",
      properties: { score: 10, review_url: "https://reviews.test/shop" },
    });
    expect(await templatesOf(id)).toEqual(["nps-promoter"]);
    expect(await tagsOf(id)).toEqual(["nps_promoter"]);

    await track({
      email: "libb-nps@example.com",
      name: "nps_submitted",
      properties: { score: 3, reason: "Support never answered my <question>", support_email: "help@shop.test" },
    });
    const messages = await messagesOf(id);
    expect(messages.map((m) => [m.template_id, m.status])).toEqual([
      ["nps-promoter", "sent"],
      ["nps-detractor", "sent"],
    ]);
    expect((await tagsOf(id)).sort()).toEqual(["nps_detractor", "nps_reason_support"]);
    const apology = await env.DB.prepare("SELECT html FROM messages WHERE id = ?").bind(messages[1]!.id).first<{ html: string }>();
    expect(apology?.html).toContain("Support never answered my &lt;question&gt;");
    expect(apology?.html).toContain("help@shop.test");
  });

  it("thanks a passive and tags nothing", async () => {
    await activeLibraryFlow("nps", shortened("nps"));
    const id = await contactId("libb-nps-passive@example.com");
    await track({ email: "libb-nps-passive@example.com", name: "nps_submitted", properties: { score: 8, reason: "Fine, a bit pricey" } });
    expect(await templatesOf(id)).toEqual(["nps-passive"]);
    expect(await tagsOf(id)).toEqual([]);
  });
});

describe("webinar run", () => {
  it("reminds a day and an hour before webinar_at, skips reminders a fresh registration makes redundant, and sends the recording a day after", async () => {
    await activeLibraryFlow("webinar", shortened("webinar"));
    const now = Date.now();
    const event = { title: "Scaling support", join_url: "https://meet.test/w/42", recording_url: "https://shop.test/replay/42" };
    // Registered two days ago: the day-before moment is 2 s away.
    const dayAhead = now + DAY + 2000;
    const early = await contactId("libb-webinar-early@example.com", { attributes: { webinar_at: new Date(dayAhead).toISOString() } });
    await track({ email: "libb-webinar-early@example.com", name: "webinar_registered", properties: event, ts: now - 2 * DAY });
    // Registered three hours ago for a webinar starting in an hour: no day-before reminder, the hour-before one 2 s away.
    const hourAhead = now + HOUR + 2000;
    const recent = await contactId("libb-webinar-recent@example.com", { attributes: { webinar_at: new Date(hourAhead).toISOString() } });
    await track({ email: "libb-webinar-recent@example.com", name: "webinar_registered", properties: event, ts: now - 3 * HOUR });
    // Registers now for yesterday's webinar: no reminders, the recording 2 s away.
    const yesterday = now - DAY + 2000;
    const replay = await contactId("libb-webinar-replay@example.com", { attributes: { webinar_at: new Date(yesterday).toISOString() } });
    await track({ email: "libb-webinar-replay@example.com", name: "webinar_registered", properties: event });

    for (const id of [early, recent, replay]) expect(await templatesOf(id)).toEqual(["webinar-confirmation"]);
    expect(await wakeAt(early)).toBe(dayAhead - DAY);
    expect(await wakeAt(recent)).toBe(hourAhead - HOUR);
    expect(await wakeAt(replay)).toBe(yesterday + DAY);

    await sleep(Math.max(dayAhead - DAY, hourAhead - HOUR, yesterday + DAY) - Date.now() + 100);
    for (const id of [early, recent, replay]) await fireAlarm(id);
    expect(await templatesOf(early)).toEqual(["webinar-confirmation", "webinar-reminder-day"]);
    expect(await wakeAt(early)).toBe(dayAhead - HOUR);
    expect(await templatesOf(recent)).toEqual(["webinar-confirmation", "webinar-reminder-hour"]);
    expect(await wakeAt(recent)).toBe(hourAhead + DAY);
    const replayMessages = await messagesOf(replay);
    expect(replayMessages.map((m) => [m.template_id, m.kind, m.status])).toEqual([
      ["webinar-confirmation", "transactional", "sent"],
      ["webinar-recording", "transactional", "sent"],
    ]);
    const recording = await env.DB.prepare("SELECT html FROM messages WHERE id = ?").bind(replayMessages[1]!.id).first<{ html: string }>();
    expect(recording?.html).toContain("Scaling support");
  });

  it("sends only the confirmation when the contact has no webinar_at", async () => {
    await activeLibraryFlow("webinar", shortened("webinar"));
    const id = await contactId("libb-webinar-undated@example.com");
    await track({ email: "libb-webinar-undated@example.com", name: "webinar_registered", properties: { title: "Scaling support" } });
    expect((await messagesOf(id)).map((m) => [m.template_id, m.status])).toEqual([["webinar-confirmation", "sent"]]);
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "exited", exit_reason: "exit_step" }]);
  });
});

describe("renewal run", () => {
  it("sends the notice with the usage summary 30 days before renewal_at, waits for 09:00 7 days before, and stops on renewal", async () => {
    const flow = shortened("renewal");
    // renewal_at is a date-time here, and the trigger drops its 09:00, so that the notice is due a minute ago.
    await activeLibraryFlow("renewal", { ...flow, trigger: { date: { attribute: "renewal_at", offset: "-30d" } } });
    const renewsAt = new Date(Date.now() + 30 * DAY - 60_000);
    const id = await contactId("libb-renewal@example.com", {
      timezone: "UTC",
      attributes: { renewal_at: renewsAt.toISOString(), plan: "Team", renewal_amount: 480, currency: "EUR", active_users: 7 },
    });
    await runDailyCron();
    const [notice] = await messagesOf(id);
    expect(notice).toMatchObject({ template_id: "renewal-30", kind: "transactional", status: "sent" });
    const html = (await env.DB.prepare("SELECT html FROM messages WHERE id = ?").bind(notice!.id).first<{ html: string }>())!.html;
    for (const fact of ["Team", "€480.00", ">7<", "Projects", ">0<"]) expect(html).toContain(fact);
    const weekBefore = Date.UTC(renewsAt.getUTCFullYear(), renewsAt.getUTCMonth(), renewsAt.getUTCDate(), 9) - 7 * DAY;
    expect(await wakeAt(id)).toBe(weekBefore);

    await track({ email: "libb-renewal@example.com", name: "subscription_renewed" });
    expect(await enrollmentsOf(id)).toMatchObject([{ flow_id: "renewal-run", status: "exited", exit_reason: "exit_event" }]);
  });

  it("sends the 7-day reminder when renewal_at minus 7 days comes", async () => {
    const flow = shortened("renewal");
    // Started by an event instead of the date, and the wait without its 09:00, so that 7 days before renewal is 2 s away.
    const steps = (flow.steps as Flow["steps"]).map((s) =>
      s.type === "wait" ? { ...s, until_attribute: { attribute: "renewal_at", offset: "-7d" } } : s,
    );
    await activeLibraryFlow("renewal", { ...flow, trigger: { event: "libb_renewal_started" }, steps });
    const weekBefore = Date.now() + 2000;
    const id = await contactId("libb-renewal-week@example.com", {
      attributes: { renewal_at: new Date(weekBefore + 7 * DAY).toISOString() },
    });
    await track({ email: "libb-renewal-week@example.com", name: "libb_renewal_started" });
    expect(await wakeAt(id)).toBe(weekBefore);
    await sleep(weekBefore - Date.now() + 100);
    await fireAlarm(id);
    expect((await messagesOf(id)).map((m) => m.template_id)).toEqual(["renewal-30", "renewal-7"]);
    expect(await enrollmentsOf(id)).toMatchObject([{ status: "completed" }]);
  });
});

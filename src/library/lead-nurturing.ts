/**
 * Lead nurturing: when a contact's lifecycle stage becomes `lead`, a three-email
 * education series whose second email follows the industry they showed interest
 * in, scoring each email clicked (`lead_score`) and promoting the lead to
 * `marketing_qualified` past a threshold; when it becomes `customer`, an
 * onboarding series instead.
 */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const siteUrl = "{{ shop.url | default: 'https://example.com' }}";

/** Points a click on an education email adds to `lead_score`. */
const CLICK_POINTS = 10;
/** The `lead_score` at which a lead becomes `marketing_qualified`. */
const QUALIFIED_SCORE = 20;

/** A click, within the series, on the email one of these steps sent. */
const clickedOn = (...stepIds: string[]) => ({
  event: "email_clicked",
  within: "14d",
  where: { prop: "step_id", op: "in" as const, value: stepIds },
});

/**
 * Industry links carry `topic=<industry>` in their query string: the click is
 * recorded with its URL on `email_clicked`, so a behavioural condition on the
 * URL reads the interest back whatever page the link points to.
 */
function topicLink(topic: string, label: string): string {
  return `<li><a href="${siteUrl}/solutions/${topic}?topic=${topic}" style="color:#1f6f5c">${label}</a></li>`;
}

/** Lead nurturing library entry. */
export const leadNurturing: LibraryEntry = {
  name: "lead-nurturing",
  description: `Use it when your CRM or sign-up form sets a contact's lifecycle_stage. When it becomes lead, the contact gets an education series: an introduction at once with links per industry, a second email after 3 days (the healthcare version for leads who clicked a healthcare link within the last 14 days; they are also tagged interest_healthcare), and a case study with an invitation to book a call 4 days later. Lead scoring: each of the first two emails the lead clicks adds ${CLICK_POINTS} to the number attribute lead_score (which your CRM may set too), and a lead whose lead_score reaches ${QUALIFIED_SCORE} before the case study becomes marketing_qualified (lifecycle_stage), which a sales-rep alert or your CRM can act on. When it becomes customer, the contact gets an onboarding series instead (at once, after 2 days and after 7 days); a lead who becomes customer mid-series leaves it and starts onboarding. An industry link is any link whose URL contains topic=<industry> (e.g. ?topic=healthcare), whatever page it opens. Optional attribute: company. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.`,
  flow: {
    name: "Lead nurturing",
    trigger: { attribute_changed: "lifecycle_stage", where: { prop: "to", op: "in", value: ["lead", "customer"] } },
    reentry: "after_exit",
    // Becoming a customer ends the education series; the same change starts the flow again on the onboarding path.
    exit_when: [
      {
        event: "attribute_changed",
        where: {
          all: [
            { prop: "attribute", op: "eq", value: "lifecycle_stage" },
            { prop: "to", op: "eq", value: "customer" },
          ],
        },
      },
    ],
    steps: [
      { id: "stage", type: "branch", if: { attr: "lifecycle_stage", op: "eq", value: "customer" }, then: "onboard_1", else: "educate_1" },
      { id: "educate_1", type: "email", template: "lead-nurture-1" },
      { id: "educate_wait_1", type: "wait", for: "3d" },
      { id: "score_1", type: "branch", if: clickedOn("educate_1"), then: "points_1", else: "industry" },
      { id: "points_1", type: "update", increment: { lead_score: CLICK_POINTS } },
      {
        id: "industry",
        type: "branch",
        if: { event: "email_clicked", within: "14d", where: { prop: "url", op: "contains", value: "topic=healthcare" } },
        then: "tag_healthcare",
        else: "educate_2",
      },
      { id: "tag_healthcare", type: "update", add_tags: ["interest_healthcare"] },
      { id: "educate_2_healthcare", type: "email", template: "lead-nurture-2-healthcare", next: "educate_wait_2" },
      { id: "educate_2", type: "email", template: "lead-nurture-2" },
      { id: "educate_wait_2", type: "wait", for: "4d" },
      { id: "score_2", type: "branch", if: clickedOn("educate_2", "educate_2_healthcare"), then: "points_2", else: "qualify" },
      { id: "points_2", type: "update", increment: { lead_score: CLICK_POINTS } },
      {
        id: "qualify",
        type: "branch",
        if: { attr: "lead_score", op: "gte", value: QUALIFIED_SCORE },
        then: "promote",
        else: "educate_3",
      },
      { id: "promote", type: "update", lifecycle_stage: "marketing_qualified" },
      { id: "educate_3", type: "email", template: "lead-nurture-3", next: "done" },
      { id: "onboard_1", type: "email", template: "onboarding-1" },
      { id: "onboard_wait_1", type: "wait", for: "2d" },
      { id: "onboard_2", type: "email", template: "onboarding-2" },
      { id: "onboard_wait_2", type: "wait", for: "5d" },
      { id: "onboard_3", type: "email", template: "onboarding-3", next: "done" },
      // Emails queued just before an exit step are still sent; the exit only ends the enrollment.
      { id: "done", type: "exit" },
    ],
  },
  templates: [
    {
      id: "lead-nurture-1",
      subject: "{% if contact.first_name %}{{ contact.first_name }}, h{% else %}H{% endif %}ere is how teams like yours get started",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Thanks for your interest{% if contact.attributes.company %} from everyone at {{ contact.attributes.company }}{% endif %}. Over the next week we will send you a few short emails: what we do, how others use it, and what it could change for you. No hard sell.</p><p>To make them useful, tell us where you work. Pick the closest match:</p><ul style="padding-left:20px">${topicLink("healthcare", "Healthcare and clinics")}${topicLink("retail", "Retail and e-commerce")}${topicLink("services", "Professional services")}${topicLink("manufacturing", "Manufacturing")}</ul>`,
        { label: "See how it works", url: `${siteUrl}/how-it-works` },
      ),
    },
    {
      id: "lead-nurture-2",
      subject: "Three things our best customers did in their first month",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>We asked our most successful customers what made the difference early on. Three answers came up again and again:</p><ol style=\"padding-left:20px\"><li><strong>They started small.</strong> One team, one process, one clear goal.</li><li><strong>They measured before and after.</strong> Even a rough baseline makes the results obvious.</li><li><strong>They asked for help.</strong> Our team answers within a working day, and it saves hours.</li></ol><p>Our guide walks through each step with examples.</p>",
        { label: "Read the guide", url: `${siteUrl}/guides/getting-started` },
      ),
    },
    {
      id: "lead-nurture-2-healthcare",
      subject: "How clinics save hours every week",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>You looked at our healthcare pages, so here is what matters most to clinics and practices we work with: less time on admin, fewer missed appointments, and patient data handled with the care it deserves.</p><p>Our healthcare guide covers the workflows clinics set up first, how they keep patient information private, and what their staff said after the first month.</p>",
        { label: "Read the healthcare guide", url: `${siteUrl}/guides/healthcare?topic=healthcare` },
      ),
    },
    {
      id: "lead-nurture-3",
      subject: "From first call to results in 30 days",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>One of our customers, a team of twelve, was spending a full day a week on work that now takes an hour. They did not change everything at once: they booked a 20-minute call with us, picked one process, and had it running within a month.</p><p>If you would like the same kind of plan for {{ contact.attributes.company | default: 'your team' }}, book a call. We will listen first, and tell you honestly whether we are a good fit.</p>",
        { label: "Book a 20-minute call", url: `${siteUrl}/book-a-call` },
      ),
    },
    {
      id: "onboarding-1",
      subject: "Welcome aboard{% if contact.first_name %}, {{ contact.first_name }}{% endif %}: your first steps",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Welcome, and thank you for choosing us. The first days set the tone, so here is the shortest path to your first result:</p><ol style=\"padding-left:20px\"><li>Set up your account and invite your team.</li><li>Connect the tools you already use.</li><li>Run your first project end to end.</li></ol><p>Each step takes minutes, and our getting-started page shows you how.</p>",
        { label: "Get started", url: `${siteUrl}/getting-started` },
      ),
    },
    {
      id: "onboarding-2",
      subject: "Tips from teams who get the most out of it",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>A few days in, this is when small habits pay off. Teams who get the most value keep one shared checklist, review their results once a week, and use templates instead of starting from scratch.</p><p>Our help centre has a short article on each, with examples you can copy.</p>",
        { label: "Open the help centre", url: `${siteUrl}/help` },
      ),
    },
    {
      id: "onboarding-3",
      subject: "How is it going?",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>You have been with us for a week now. We would love to know how it is going: what works, what is missing, and anything that got in your way. Just reply to this email; a real person reads every answer.</p><p>And if you would like a hand, book a free check-in with our team.</p>",
        { label: "Book a check-in", url: `${siteUrl}/book-a-call` },
      ),
    },
  ],
};

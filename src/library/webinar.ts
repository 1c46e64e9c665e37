/**
 * Webinar: a confirmation at registration, reminders one day and one hour
 * before the start (read from the contact's `webinar_at`), and the recording
 * one day after.
 */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const title = "{{ event.properties.title | default: 'our webinar' }}";
const startsAt = "{{ contact.attributes.webinar_at | date: '%A %-d %B %Y at %H:%M UTC' }}";
const joinUrl = "{{ event.properties.join_url | default: shop.url | default: 'https://example.com' }}";
const recordingUrl =
  "{{ event.properties.recording_url | default: event.properties.join_url | default: shop.url | default: 'https://example.com' }}";

/** Webinar library entry. */
export const webinar: LibraryEntry = {
  name: "webinar",
  description:
    "Use it for webinars and online events. First store the start as the contact attribute webinar_at (an ISO date-time such as 2026-05-14T16:00:00Z, through PUT /v1/contacts), then send webinar_registered with title, join_url and, if you know it in advance, recording_url (the replay page; join_url is used when absent). The registrant gets a confirmation at once, a reminder 1 day before and another 1 hour before webinar_at, and the recording 1 day after. A reminder is skipped when the contact registered shortly before it is due (12 hours for the day-before one, 1 hour for the hour-before one): the confirmation has just told them. Without webinar_at only the confirmation is sent. Sent as transactional: registrants asked for these emails. webinar_cancelled ends the flow.",
  flow: {
    name: "Webinar reminders",
    trigger: { event: "webinar_registered" },
    reentry: "after_exit",
    exit_when: [{ event: "webinar_cancelled" }],
    settings: { transactional: true },
    steps: [
      { id: "confirm", type: "email", template: "webinar-confirmation" },
      { id: "scheduled", type: "branch", if: { attr: "webinar_at", op: "exists" }, then: "wait_day_before", else: "done" },
      { id: "wait_day_before", type: "wait", until_attribute: { attribute: "webinar_at", offset: "-1d" } },
      // A wait whose moment has passed is skipped: a late registrant would get the reminder right after the confirmation.
      {
        id: "registered_today",
        type: "branch",
        if: { event: "webinar_registered", within: "12h" },
        then: "wait_hour_before",
        else: "remind_day_before",
      },
      { id: "remind_day_before", type: "email", template: "webinar-reminder-day" },
      { id: "wait_hour_before", type: "wait", until_attribute: { attribute: "webinar_at", offset: "-1h" } },
      {
        id: "registered_last_hour",
        type: "branch",
        if: { event: "webinar_registered", within: "1h" },
        then: "wait_after",
        else: "remind_hour_before",
      },
      { id: "remind_hour_before", type: "email", template: "webinar-reminder-hour" },
      { id: "wait_after", type: "wait", until_attribute: { attribute: "webinar_at", offset: "1d" } },
      { id: "recording", type: "email", template: "webinar-recording", next: "done" },
      // Emails queued just before an exit step are still sent; the exit only ends the enrollment.
      { id: "done", type: "exit" },
    ],
  },
  templates: [
    {
      id: "webinar-confirmation",
      subject: `You're registered: ${title}`,
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Your seat for <strong>${title}</strong> is confirmed{% if contact.attributes.webinar_at %}. We start on <strong>${startsAt}</strong>{% endif %}.</p><p>Add it to your calendar now so it does not slip. The link below is your personal access; please do not share it.</p><p>We will send you a reminder the day before and an hour before we go live.</p>`,
        { label: "Your access link", url: joinUrl },
      ),
    },
    {
      id: "webinar-reminder-day",
      subject: `Tomorrow: ${title}`,
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>A quick reminder: <strong>${title}</strong> is tomorrow{% if contact.attributes.webinar_at %}, ${startsAt}{% endif %}. Bring your questions: we keep the last 15 minutes for them.</p>`,
        { label: "Join the webinar", url: joinUrl },
      ),
    },
    {
      id: "webinar-reminder-hour",
      subject: `Starting in one hour: ${title}`,
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>We go live in one hour. Grab a coffee and join a couple of minutes early to check your sound.</p>`,
        { label: "Join now", url: joinUrl },
      ),
    },
    {
      id: "webinar-recording",
      subject: `The recording: ${title}`,
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Thank you for registering for <strong>${title}</strong>. Whether you joined us live or could not make it, the full recording is ready for you, along with the slides.</p><p>Questions we did not get to? Reply to this email and we will answer them personally.</p>`,
        { label: "Watch the recording", url: recordingUrl },
      ),
    },
  ],
};

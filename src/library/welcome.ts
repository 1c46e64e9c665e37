/** The welcome series: three emails over four days, a resend when email 2 goes unopened. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

/** Welcome series library entry. */
export const welcomeSeries: LibraryEntry = {
  name: "welcome-series",
  description:
    "Use it for every new subscriber: a warm hello at once, your best products after 2 days and your story after 4 days. If email 2 is not opened within 3 days it is resent with a new subject. Contacts leave on unsubscribe; placing an order counts as the goal.",
  flow: {
    name: "Welcome series",
    trigger: { event: "subscribed" },
    reentry: "never",
    exit_when: [{ event: "unsubscribed" }],
    goal: { event: "order_placed", within: "14d" },
    steps: [
      { id: "email_1", type: "email", template: "welcome-1" },
      { id: "wait_2", type: "wait", for: "2d" },
      { id: "email_2", type: "email", template: "welcome-2" },
      { id: "opened_2", type: "wait_for", event: "email_opened", of: "email_2", timeout: "3d", then: "wait_3", else: "resend_2" },
      { id: "resend_2", type: "email", template: "welcome-2-resend", next: "email_3" },
      { id: "wait_3", type: "wait", for: "1d" },
      { id: "email_3", type: "email", template: "welcome-3" },
    ],
  },
  templates: [
    {
      id: "welcome-1",
      subject: "Welcome{% if contact.first_name %}, {{ contact.first_name }}{% endif %}!",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Thanks for joining us. You will hear from us only when we have something worth your time: new arrivals, restocks and the occasional private offer.</p>",
        { label: "Visit the shop", url: "{{ shop.url | default: 'https://example.com' }}" },
      ),
    },
    {
      id: "welcome-2",
      subject: "Our customers' favourites",
      html: emailLayout("<p>Not sure where to start? These are the products our customers come back for again and again.</p>", {
        label: "See the best sellers",
        url: "{{ shop.url | default: 'https://example.com' }}",
      }),
    },
    {
      id: "welcome-2-resend",
      subject: "In case you missed it: the favourites",
      html: emailLayout("<p>A quick nudge: here are the products most people fall for first.</p>", {
        label: "See the best sellers",
        url: "{{ shop.url | default: 'https://example.com' }}",
      }),
    },
    {
      id: "welcome-3",
      subject: "Why we started",
      html: emailLayout(
        "<p>We started small, with one idea: make things we would buy ourselves. Every product is chosen by a person, not an algorithm. Reply to this email any time; a human reads it.</p>",
        { label: "Read our story", url: "{{ shop.url | default: 'https://example.com' }}" },
      ),
    },
  ],
};

/** The welcome series: emails on days 0, 2 and 4, and email 2 resent on day 5 when it went unopened for 3 days. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

/** Welcome series library entry. */
export const welcomeSeries: LibraryEntry = {
  name: "welcome-series",
  description:
    "Use it for every new subscriber: it starts once when a contact's consent becomes subscribed (a confirmed double opt-in, an explicit subscribed through the API, or an import sent with trigger_flows=true); customers who never opted in (consent none) do not enter. A warm hello at once, your best products after 2 days and your story after 4 days. If email 2 has not been opened 3 days after it went out, it is resent with a new subject on day 5. Contacts leave on unsubscribe; placing an order counts as the goal.",
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
      { id: "wait_3", type: "wait", for: "2d" },
      { id: "email_3", type: "email", template: "welcome-3" },
      // Day 5 is three days after email 2: an open of email 2 since then (machine opens never count) means no resend.
      { id: "wait_resend", type: "wait", for: "1d" },
      {
        id: "opened_2",
        type: "branch",
        if: {
          event: "email_opened",
          within: "3d",
          where: {
            all: [
              { prop: "flow_id", op: "eq", value: "welcome-series" },
              { prop: "step_id", op: "eq", value: "email_2" },
            ],
          },
        },
        then: "done",
        else: "resend_2",
      },
      { id: "done", type: "exit" },
      { id: "resend_2", type: "email", template: "welcome-2-resend" },
    ],
  },
  templates: [
    {
      id: "welcome-1",
      subject: "Welcome{% if contact.first_name != blank %}, {{ contact.first_name }}{% endif %}!",
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

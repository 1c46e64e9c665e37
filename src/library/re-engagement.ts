/** Re-engagement: a fresh offer to contacts inactive for 30 days, two follow-ups, then those still silent are tagged dormant. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const shopUrl = "{{ shop.url | default: 'https://example.com' }}";

/** Re-engagement library entry. */
export const reEngagement: LibraryEntry = {
  name: "re-engagement",
  description:
    'Use it to win back subscribers who went quiet, and to stop mailing those who will not come back. A contact with no open or click for 30 days gets a fresh offer (their winback_code attribute if set, otherwise your new arrivals), a follow-up after 4 days and a last \'still interested?\' email after 9. A click on any email ends the flow and counts as the goal. Two weeks after the offer, a contact who opened nothing is tagged dormant: leave that tag out of your regular sends. To start it after 5 unopened emails instead, create a segment whose condition is {"attr": "unopened_streak", "op": "gte", "value": 5} and set the trigger to {"segment_entered": "<that segment\'s id>"}. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.',
  flow: {
    name: "Re-engagement",
    trigger: { inactive_for: "30d" },
    reentry: { cooldown: "90d" },
    goal: { event: "email_clicked" },
    steps: [
      { id: "offer", type: "email", template: "re-engagement-1" },
      { id: "wait_follow_up", type: "wait", for: "4d" },
      { id: "follow_up", type: "email", template: "re-engagement-2" },
      { id: "wait_last_chance", type: "wait", for: "5d" },
      { id: "last_chance", type: "email", template: "re-engagement-3" },
      { id: "wait_answer", type: "wait", for: "5d" },
      // Opening without clicking still means they read us: keep them on the list, untagged.
      { id: "opened_lately", type: "branch", if: { event: "email_opened", within: "14d" }, then: "done", else: "mark_dormant" },
      { id: "mark_dormant", type: "update", add_tags: ["dormant"] },
      { id: "done", type: "exit" },
    ],
  },
  templates: [
    {
      id: "re-engagement-1",
      subject: "We miss you{% if contact.first_name != blank %}, {{ contact.first_name }}{% endif %}",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>It has been a while, and a lot has changed in the shop since your last visit.</p>{% if contact.attributes.winback_code %}<p>To welcome you back, here is a code just for you: <strong>{{ contact.attributes.winback_code }}</strong>. Use it at checkout on anything you like.</p>{% else %}<p>New arrivals have just landed, and we think you will find something you like.</p>{% endif %}",
        { label: "See what's new", url: shopUrl },
      ),
    },
    {
      id: "re-engagement-2",
      subject: "A few things you may have missed",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Since you last heard from us we have added new products, restocked the ones that sold out, and answered the questions customers asked us most. It all takes a minute to catch up on.</p>{% if contact.attributes.winback_code %}<p>Your code <strong>{{ contact.attributes.winback_code }}</strong> is still waiting for you.</p>{% endif %}",
        { label: "Catch up", url: shopUrl },
      ),
    },
    {
      id: "re-engagement-3",
      subject: "Should we keep writing to you?",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>We only want to be in your inbox if you want us there. If you would still like to hear about new products and offers, click below and we will keep you on the list.</p><p>If not, no hard feelings: we will write much less from now on, and you can unsubscribe at any time with the link at the bottom of this email.</p>",
        { label: "Yes, keep me posted", url: shopUrl },
      ),
    },
  ],
};

/** Win-back: a customer whose last order was 90 days ago gets a come-back offer and a follow-up; a new order ends it. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const shopUrl = "{{ shop.url | default: 'https://example.com' }}";

/** Win-back library entry. */
export const winBack: LibraryEntry = {
  name: "win-back",
  description:
    "Use it to bring back customers who stopped ordering. 90 days after a customer's last order (the last_order_at every order_placed keeps), at 10:00 in their time zone, they get a come-back offer: the code in their winback_code attribute if you stored one, otherwise your new arrivals. A follow-up goes out a week later. An order at any point ends the flow (an order within 30 days counts as the goal), and because every order moves last_order_at, the 90 days start again from the new order: a customer who keeps ordering never gets it. Contacts who never ordered are not customers yet and never enter; re-engagement is the flow for subscribers who stopped opening. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.",
  flow: {
    name: "Win-back",
    trigger: { date: { attribute: "last_order_at", offset: "90d", at: "10:00" } },
    reentry: "after_exit",
    goal: { event: "order_placed", within: "30d" },
    exit_when: [{ event: "order_placed" }],
    steps: [
      { id: "offer", type: "email", template: "win-back-1" },
      { id: "wait_follow_up", type: "wait", for: "7d" },
      { id: "follow_up", type: "email", template: "win-back-2" },
    ],
  },
  templates: [
    {
      id: "win-back-1",
      subject: "It has been a while{% if contact.first_name != blank %}, {{ contact.first_name }}{% endif %}: come back for something new",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Your last order with us was a few months ago, and we would love to see you again.</p>{% if contact.attributes.winback_code %}<p>To make coming back worth it, here is a code just for you: <strong>{{ contact.attributes.winback_code }}</strong>. Use it at checkout on your next order.</p>{% else %}<p>A lot has arrived since then, and we have picked out what we think you will like.</p>{% endif %}",
        { label: "Come back to the shop", url: shopUrl },
      ),
    },
    {
      id: "win-back-2",
      subject: "Still thinking about it?",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Just a quick reminder that we are here whenever you need something again: the favourites you ordered before are still in stock, and there is plenty new beside them.</p>{% if contact.attributes.winback_code %}<p>Your code <strong>{{ contact.attributes.winback_code }}</strong> is still waiting for you.</p>{% endif %}",
        { label: "See what's new", url: shopUrl },
      ),
    },
  ],
};

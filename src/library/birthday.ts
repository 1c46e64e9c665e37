/** Birthday: a greeting with the contact's own gift code at 09:00 on their birthday, and a reminder of the code 5 days later. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const shopUrl = "{{ shop.url | default: 'https://example.com' }}";

/** Birthday library entry. */
export const birthday: LibraryEntry = {
  name: "birthday",
  description:
    "Use it to make customers feel remembered. Every year at 09:00 in the contact's time zone on the date in their birthday attribute (e.g. 1990-05-14), they get a birthday greeting with the gift code in their birthday_code attribute; create the codes in your shop and store them on the contacts beforehand. Without a code the email is a warm greeting with a link to the shop and promises nothing. Contacts with a code who have not ordered get a reminder 5 days later; an order ends the flow and counts as the goal. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.",
  flow: {
    name: "Birthday",
    trigger: { date: { attribute: "birthday", at: "09:00", repeat: "yearly" } },
    reentry: "after_exit",
    goal: { event: "order_placed", within: "14d" },
    steps: [
      { id: "greeting", type: "email", template: "birthday-1" },
      { id: "wait_reminder", type: "wait", for: "5d" },
      { id: "has_code", type: "branch", if: { attr: "birthday_code", op: "exists" }, then: "reminder", else: "no_code" },
      { id: "no_code", type: "exit" },
      { id: "reminder", type: "email", template: "birthday-2" },
    ],
  },
  templates: [
    {
      id: "birthday-1",
      subject: "Happy birthday{% if contact.first_name != blank %}, {{ contact.first_name }}{% endif %}! 🎂",
      html: emailLayout(
        "<p>Happy birthday, {{ contact.first_name | default: 'friend' }}!</p><p>Everyone here wishes you a wonderful day.</p>{% if contact.attributes.birthday_code %}<p>We have a little gift for you: use the code <strong>{{ contact.attributes.birthday_code }}</strong> at checkout and treat yourself.</p>{% else %}<p>If you fancy treating yourself today, the shop is full of new things to discover.</p>{% endif %}",
        { label: "Treat yourself", url: shopUrl },
      ),
    },
    {
      id: "birthday-2",
      subject: "Your birthday gift is still waiting",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>A quick reminder: your birthday code <strong>{{ contact.attributes.birthday_code }}</strong> has not been used yet. It is our way of saying thank you for being part of our story.</p>",
        { label: "Use my gift", url: shopUrl },
      ),
    },
  ],
};

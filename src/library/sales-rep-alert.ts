/** Sales-rep alert: a known lead looking at pricing is worth a call; their owner gets an internal email with the profile. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const row = (label: string, value: string) =>
  `<tr><td style="padding:6px 12px 6px 0;color:#6b7280;white-space:nowrap;vertical-align:top">${label}</td><td style="padding:6px 0">${value}</td></tr>`;

const when = (field: string) => `{% if contact.${field} %}{{ contact.${field} | date: '%-d %b %Y, %H:%M UTC' }}{% else %}never{% endif %}`;

/** Sales-rep alert library entry. */
export const salesRepAlert: LibraryEntry = {
  name: "sales-rep-alert",
  description:
    "Use it for B2B sales: when a contact whose lifecycle_stage is lead views a page whose URL contains /pricing (the site snippet's page_viewed event carries url and title), the contact's owner gets an internal email with the lead's profile: name, email, company, lifecycle stage, orders, last open and click, and the page viewed, with a link to the contact in the dashboard. The owner's address is read from the owner_email attribute (no alert when it is missing); company is the company attribute. A rep hears about the same lead at most once every 3 days.",
  flow: {
    name: "Sales-rep alert",
    trigger: {
      event: "page_viewed",
      where: {
        all: [
          { prop: "url", op: "contains", value: "/pricing" },
          { attr: "lifecycle_stage", op: "eq", value: "lead" },
        ],
      },
    },
    // A lead comparing plans views several pricing pages in a row: one alert per visit spree is enough.
    reentry: { cooldown: "3d" },
    steps: [{ id: "alert_owner", type: "notify", to_attribute: "owner_email", template: "sales-rep-alert" }],
  },
  templates: [
    {
      id: "sales-rep-alert",
      subject:
        "Hot lead: {% if contact.first_name != blank %}{{ contact.first_name }} {{ contact.last_name }}{% else %}{{ contact.email }}{% endif %}{% if contact.attributes.company %} ({{ contact.attributes.company }}){% endif %} is looking at pricing",
      html: emailLayout(
        `<p>A lead you own just viewed <a href="{{ event.properties.url | default: shop.url }}" style="color:#1f6f5c">{{ event.properties.title | default: event.properties.url | default: 'your pricing page' }}</a>. Now is a good moment to reach out.</p>
<table role="presentation" cellpadding="0" cellspacing="0" style="margin:16px 0;font-size:15px">
${row("Name", "{{ contact.first_name }} {{ contact.last_name }}")}
${row("Email", "{{ contact.email }}")}
${row("Company", "{{ contact.attributes.company | default: '—' }}")}
${row("Lifecycle stage", "{{ contact.lifecycle_stage | default: 'lead' }}")}
${row("Orders", "{{ contact.orders_count | default: 0 }}")}
${row("Last opened", when("last_opened_at"))}
${row("Last clicked", when("last_clicked_at"))}
${row("Page viewed", "{{ event.properties.url | default: '—' }}")}
</table>`,
        { label: "Open the contact", url: "{{ dashboard_url }}/contacts/{{ contact.id }}" },
      ),
    },
  ],
};

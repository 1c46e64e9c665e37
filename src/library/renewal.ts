/** Renewal: a notice with a usage summary 30 days before the contact's renewal_at, and a reminder 7 days before. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const manageUrl = "{{ contact.attributes.manage_url | default: shop.url | default: 'https://example.com' }}";
const renewsOn = "{{ contact.attributes.renewal_at | date: '%-d %B %Y' }}";
const plan = "{{ contact.attributes.plan | default: 'your plan' }}";
const amount =
  "{% if contact.attributes.renewal_amount %}{{ contact.attributes.renewal_amount | money: contact.attributes.currency }}{% else %}the same price as your last invoice{% endif %}";

const row = (label: string, value: string) =>
  `<tr><td style="padding:8px 12px 8px 0;border-bottom:1px solid #e6e8e3;color:#6b7280">${label}</td><td style="padding:8px 0;border-bottom:1px solid #e6e8e3;text-align:right;font-weight:600">${value}</td></tr>`;

/** What the customer got out of the year, from attributes the app keeps up to date; each has a default. */
const usageSummary = `<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="margin:16px 0;border-top:1px solid #e6e8e3">
${row("Plan", plan)}
${row("Active users", "{{ contact.attributes.active_users | default: 1 }}")}
${row("Projects", "{{ contact.attributes.projects_count | default: 0 }}")}
${row("Hours saved (estimate)", "{{ contact.attributes.hours_saved | default: '—' }}")}
</table>`;

/** Renewal library entry. */
export const renewal: LibraryEntry = {
  name: "renewal",
  description:
    "Use it for annual subscriptions and contracts. It needs the contact attribute renewal_at (a date or ISO date-time; the Stripe connector keeps it, with plan and renewal_amount, from each subscription update): 30 days before it, at 09:00 in the contact's time zone, the customer gets a renewal notice with a summary of their year (attributes plan, active_users, projects_count and hours_saved, each with a default), the amount (renewal_amount and currency, else the last invoice's price) and a link to manage the subscription (manage_url, else your site); 7 days before, a reminder. It stops on subscription_renewed or subscription_cancelled. Sent as transactional: customers must hear about an upcoming charge. Update renewal_at after each renewal (Stripe does, with each new period) and the flow runs again for the next one.",
  flow: {
    name: "Renewal reminders",
    trigger: { date: { attribute: "renewal_at", offset: "-30d", at: "09:00" } },
    reentry: "after_exit",
    exit_when: [{ event: "subscription_renewed" }, { event: "subscription_cancelled" }],
    settings: { transactional: true },
    steps: [
      { id: "notice", type: "email", template: "renewal-30" },
      { id: "wait_week_before", type: "wait", until_attribute: { attribute: "renewal_at", offset: "-7d", at: "09:00" } },
      { id: "reminder", type: "email", template: "renewal-7" },
    ],
  },
  templates: [
    {
      id: "renewal-30",
      subject: "Your subscription renews on {{ contact.attributes.renewal_at | date: '%-d %B' | default: 'soon' }}",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>A heads-up: ${plan} renews on <strong>${renewsOn}</strong>, for ${amount}. You do not need to do anything to keep going.</p><p>Here is what your team did with us this year:</p>${usageSummary}<p>If your needs have changed, you can switch plans, add or remove users, or update your billing details before the renewal date.</p>`,
        { label: "Manage your subscription", url: manageUrl },
      ),
    },
    {
      id: "renewal-7",
      subject: "Reminder: your renewal is in 7 days",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Just a reminder that ${plan} renews on <strong>${renewsOn}</strong>, for ${amount}. Please check that your payment details are up to date so nothing is interrupted.</p>${usageSummary}<p>Questions about your plan or invoice? Reply to this email and we will help.</p>`,
        { label: "Review your subscription", url: manageUrl },
      ),
    },
  ],
};

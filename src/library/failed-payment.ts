/** Failed payment: transactional notice with a direct fix link at once, a reminder after 2 days; stops when payment succeeds. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

/** Stripe's hosted invoice page (the connector's hosted_invoice_url) takes a new card and pays at once; else the shop's update_url. */
const fixUrl =
  "{{ event.properties.hosted_invoice_url | default: event.properties.update_url | default: shop.url | default: 'https://example.com' }}";

/** Failed payment library entry. */
export const failedPayment: LibraryEntry = {
  name: "failed-payment",
  description:
    "Use it for subscriptions and recurring billing: on payment_failed the customer gets a transactional email at once with a direct link to update their card (the Stripe connector sends Stripe's hosted invoice page as hosted_invoice_url; from your own backend, send update_url), and a reminder after 2 days. It stops as soon as payment_succeeded arrives.",
  flow: {
    name: "Failed payment",
    trigger: { event: "payment_failed" },
    reentry: "after_exit",
    exit_when: [{ event: "payment_succeeded" }],
    settings: { transactional: true },
    steps: [
      { id: "notice", type: "email", template: "failed-payment-1" },
      { id: "wait", type: "wait", for: "2d" },
      { id: "reminder", type: "email", template: "failed-payment-2" },
    ],
  },
  templates: [
    {
      id: "failed-payment-1",
      subject: "Your payment did not go through",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>We could not charge your card for your latest payment{% if event.properties.amount %} of {{ event.properties.amount | money: event.properties.currency }}{% endif %}. It usually means the card expired or the bank declined it. Updating it takes a minute and keeps everything running without interruption.</p>",
        { label: "Update payment details", url: fixUrl },
      ),
    },
    {
      id: "failed-payment-2",
      subject: "Reminder: please update your payment details",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Your last payment is still outstanding. Please update your payment details so your service is not interrupted. If you think this is a mistake, just reply to this email.</p>",
        { label: "Update payment details", url: fixUrl },
      ),
    },
  ],
};

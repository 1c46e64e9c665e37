/** Post-purchase: thanks at once, care tips after 3 days, related products after 7, a feedback request for first orders. */
import type { LibraryEntry } from "./catalog";
import { emailLayout, itemsTable } from "./layout";

/** Post-purchase library entry. */
export const postPurchase: LibraryEntry = {
  name: "post-purchase",
  description:
    "Use it after every order to turn buyers into regulars. On order_placed (with items, value, currency and optionally order_url, care_url, related_url and review_url; orders from the Shopify and WooCommerce connectors carry their line items, and Shopify's the order status page as order_url) the customer gets a thank-you with their order at once, tips to get the most out of it after 3 days and products that go well with it after 7 days. First-time customers (orders_count is 1) are also asked for feedback after 10 days. A new order while the contact is still in the flow does not restart it. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.",
  flow: {
    name: "Post-purchase",
    trigger: { event: "order_placed" },
    reentry: "after_exit",
    steps: [
      { id: "thank_you", type: "email", template: "post-purchase-1" },
      { id: "wait_tips", type: "wait", for: "3d" },
      { id: "tips", type: "email", template: "post-purchase-2" },
      { id: "wait_related", type: "wait", for: "4d" },
      { id: "related", type: "email", template: "post-purchase-3" },
      {
        id: "first_order",
        type: "branch",
        if: { attr: "orders_count", op: "eq", value: 1 },
        then: "wait_feedback",
        else: "repeat_customer",
      },
      { id: "repeat_customer", type: "exit" },
      { id: "wait_feedback", type: "wait", for: "3d" },
      { id: "feedback", type: "email", template: "post-purchase-feedback" },
    ],
  },
  templates: [
    {
      id: "post-purchase-1",
      subject: "Thank you for your order{% if contact.first_name != blank %}, {{ contact.first_name }}{% endif %}!",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Thank you for shopping with us. Every order makes a real difference to a small shop like ours. We are getting yours ready and will let you know as soon as it is on its way.</p>${itemsTable}{% assign order_total = event.value | default: event.properties.value %}{% if order_total %}<p>Total: <strong>{{ order_total | money: event.properties.currency }}</strong></p>{% endif %}`,
        { label: "View your order", url: `{{ event.properties.order_url | default: shop.url | default: 'https://example.com' }}` },
      ),
    },
    {
      id: "post-purchase-2",
      subject: "Getting the most out of your order",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Your order should be with you by now. A few tips to enjoy it for a long time:</p><ul><li>Take a minute to read the care label or instructions: they are written for that exact product.</li><li>Store it away from direct sunlight and damp.</li><li>Anything not quite right? Reply to this email and we will sort it out.</li></ul>",
        { label: "Read our care guide", url: `{{ event.properties.care_url | default: shop.url | default: 'https://example.com' }}` },
      ),
    },
    {
      id: "post-purchase-3",
      subject: "Picked for you: what goes well with your order",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>{% if event.properties.items %}Customers who bought {{ event.properties.items.first.name }} often come back for the pieces that go with it.{% else %}Customers who bought what you did often come back for the pieces that go with it.{% endif %} We have put a few favourites together for you.</p>",
        { label: "See what goes with it", url: `{{ event.properties.related_url | default: shop.url | default: 'https://example.com' }}` },
      ),
    },
    {
      id: "post-purchase-feedback",
      subject: "How was your first order?",
      html: emailLayout(
        "<p>Hi {{ contact.first_name | default: 'there' }},</p><p>You placed your first order with us a little while ago, and we would love to know how it went. What did you like? What could we do better? Two minutes of your time helps us improve, and helps other shoppers choose.</p>",
        { label: "Share your feedback", url: `{{ event.properties.review_url | default: shop.url | default: 'https://example.com' }}` },
      ),
    },
  ],
};

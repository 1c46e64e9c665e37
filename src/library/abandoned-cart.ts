/** Abandoned cart: three reminders (1 hour, 24 hours, 3 days after a checkout or cart) showing the cart; an order ends it. */
import type { LibraryEntry } from "./catalog";
import { emailLayout, itemsTable } from "./layout";

/** The platform's recovery link (Shopify's abandoned_checkout_url restores the very checkout), else the shop's cart_url. */
const cartUrl =
  "{{ event.properties.abandoned_checkout_url | default: event.properties.cart_url | default: shop.url | default: 'https://example.com' }}";
const cartTotal =
  "{% assign cart_total = event.value | default: event.properties.value %}{% if cart_total %}<p>Cart total: <strong>{{ cart_total | money: event.properties.currency }}</strong></p>{% endif %}";

/** Abandoned cart library entry. */
export const abandonedCart: LibraryEntry = {
  name: "abandoned-cart",
  description:
    "Use it to win back checkouts and carts that stop before payment. On checkout_started or added_to_cart, whichever comes first (send items with name, price, image_url and url, plus value, currency and cart_url; the Shopify connector sends all of them, with Shopify's abandoned_checkout_url, which restores the very checkout and is used instead of cart_url) the customer gets a reminder showing their cart after 1 hour, a second one after 24 hours and a last one after 3 days (which shows discount_code if the event has one). An order_placed at any point ends it and cancels what is not sent yet. A contact enters at most once every 7 days, so one cart is never chased twice, however many items are added. If you only want abandoned checkouts, remove added_to_cart from the trigger's events. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.",
  flow: {
    name: "Abandoned cart",
    trigger: { event: ["checkout_started", "added_to_cart"] },
    reentry: { cooldown: "7d" },
    exit_when: [{ event: "order_placed" }],
    steps: [
      { id: "wait_1h", type: "wait", for: "1h" },
      { id: "reminder", type: "email", template: "abandoned-cart-1" },
      { id: "wait_24h", type: "wait", for: "23h" },
      { id: "nudge", type: "email", template: "abandoned-cart-2" },
      { id: "wait_3d", type: "wait", for: "2d" },
      { id: "last_call", type: "email", template: "abandoned-cart-3" },
    ],
  },
  templates: [
    {
      id: "abandoned-cart-1",
      subject: "You left something in your cart",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>You were almost done! We have kept your cart just as you left it, so you can pick up where you stopped.</p>${itemsTable}${cartTotal}`,
        { label: "Return to your cart", url: cartUrl },
      ),
    },
    {
      id: "abandoned-cart-2",
      subject: "Still thinking it over?",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Your cart is still waiting for you. If something held you back, such as sizes, delivery times or returns, just reply to this email: a real person will answer, usually the same day.</p>${itemsTable}`,
        { label: "Complete your order", url: cartUrl },
      ),
    },
    {
      id: "abandoned-cart-3",
      subject: "Last reminder about your cart",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>This is our last reminder about the items below. We are a small shop and stock is limited, so we cannot hold them forever.</p>{% if event.properties.discount_code %}<p>To make up your mind, here is a little something: use the code <strong>{{ event.properties.discount_code }}</strong> at checkout.</p>{% endif %}${itemsTable}`,
        { label: "Finish checking out", url: cartUrl },
      ),
    },
  ],
};

/** Replenishment: a reorder reminder a week before a consumable order runs out (its replenish_days minus 7 days). */
import type { LibraryEntry } from "./catalog";
import { emailLayout, itemsTable } from "./layout";

const reorderUrl = "{{ event.properties.reorder_url | default: shop.url | default: 'https://example.com' }}";

/** Replenishment library entry. */
export const replenishment: LibraryEntry = {
  name: "replenishment",
  description:
    "Use it for products that run out: coffee, tea, cosmetics, pet food. Send replenish_days on order_placed, the number of days the order lasts (for several consumables, the shortest of them; the Shopify and WooCommerce connectors read it from a line-item property or meta field named replenish_days, and Shopify orders carry a one-click reorder_url that refills the same cart); orders without it, or lasting a week or less, are left out. A week before the order runs out the customer gets a reminder showing what they bought, with a link to reorder (reorder_url, else your shop). A new order before then ends the wait and starts the count again from that order. To read the days from the first item instead, change the wait's property to items.0.replenish_days. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.",
  flow: {
    name: "Replenishment",
    trigger: { event: "order_placed", where: { prop: "replenish_days", op: "gt", value: 7 } },
    reentry: "after_exit",
    exit_when: [{ event: "order_placed" }],
    steps: [
      { id: "wait_until_low", type: "wait", for_property: { property: "replenish_days", unit: "d", offset: "-7d" } },
      { id: "reminder", type: "email", template: "replenishment-1" },
    ],
  },
  templates: [
    {
      id: "replenishment-1",
      subject: "Running low{% if event.properties.items %} on {{ event.properties.items.first.name }}{% endif %}?",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>By our count, what you ordered will run out in about a week. Reorder now and it will arrive before you run out, so you never go without.</p>${itemsTable}`,
        { label: "Reorder in one click", url: reorderUrl },
      ),
    },
  ],
};

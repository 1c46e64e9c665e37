/** Browse abandonment: one gentle follow-up an hour after a product view that led to no cart and no order. */
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const productUrl = "{{ event.properties.url | default: shop.url | default: 'https://example.com' }}";

/** Browse abandonment library entry. */
export const browseAbandonment: LibraryEntry = {
  name: "browse-abandonment",
  description:
    "Use it to follow up on interest that did not turn into a cart. When an identified visitor (a contact, or a browser tied to one: it came through a tracked link, confirmed its sign-up, or your backend signed its identify) triggers product_viewed with name, url, image_url and price, the flow waits 1 hour; if they added something to their cart or ordered around that view, nothing is sent (the abandoned cart flow takes over), otherwise one email shows the product they looked at. A contact enters at most once every 7 days, whatever happened, so frequent browsers are not pestered. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.",
  flow: {
    name: "Browse abandonment",
    trigger: { event: "product_viewed" },
    reentry: { cooldown: "7d" },
    steps: [
      { id: "wait_1h", type: "wait", for: "1h" },
      {
        id: "carted_or_ordered",
        type: "branch",
        // Two hours back from the branch: the hour of the wait plus the hour before the view, so a cart
        // created just before (or in the same second as) the view counts too.
        if: {
          any: [
            { event: "added_to_cart", within: "2h" },
            { event: "order_placed", within: "2h" },
          ],
        },
        then: "already_shopping",
        else: "follow_up",
      },
      { id: "already_shopping", type: "exit" },
      { id: "follow_up", type: "email", template: "browse-abandonment-1" },
    ],
  },
  templates: [
    {
      id: "browse-abandonment-1",
      subject: "Still thinking about {{ event.properties.name | default: 'it' }}?",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>We noticed you were looking at{% if event.properties.name %} <strong>{{ event.properties.name }}</strong>{% else %} something in our shop{% endif %}. Good choice. If you have a question about it, reply to this email and we will help you decide.</p>{% if event.properties.image_url %}<p><a href="${productUrl}"><img src="{{ event.properties.image_url }}" alt="{{ event.properties.name }}" width="240" style="border-radius:6px;display:block;max-width:100%"></a></p>{% endif %}{% if event.properties.price %}<p>{{ event.properties.price | money: event.properties.currency }}</p>{% endif %}`,
        { label: "Take another look", url: productUrl },
      ),
    },
  ],
};

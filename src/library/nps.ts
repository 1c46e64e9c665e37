/**
 * NPS follow-up: promoters are asked for a review or a referral, passives are
 * thanked, detractors get an apology with a way to reach support and are
 * tagged, with the reason they gave, for the team to follow up.
 */
import type { Step } from "../flows/schema";
import type { LibraryEntry } from "./catalog";
import { emailLayout } from "./layout";

const siteUrl = "{{ shop.url | default: 'https://example.com' }}";
/** An event property holding a URL, falling back to the site. */
const urlFrom = (property: string) => `{{ event.properties.${property} | default: shop.url | default: 'https://example.com' }}`;

/** Detractor reasons recognised in the event's free-text `reason` (case-insensitive); each adds the tag `nps_reason_<word>`. */
const REASONS = ["price", "support", "product", "delivery"] as const;
const REASON_TAGS = REASONS.map((word) => `nps_reason_${word}`);

/** A chain of branches, one per known reason, each tagging the contact when its word is in the reason; ends at `then`. */
function reasonTagging(then: string): Step[] {
  return REASONS.flatMap((word, i) => {
    const following = REASONS[i + 1] ? `reason_${REASONS[i + 1]}` : then;
    const check: Step = {
      id: `reason_${word}`,
      type: "branch",
      if: { prop: "reason", op: "contains", value: word },
      then: `tag_${word}`,
      else: following,
    };
    const tag: Step = { id: `tag_${word}`, type: "update", add_tags: [`nps_reason_${word}`], next: following };
    return [check, tag];
  });
}

/** NPS library entry. */
export const nps: LibraryEntry = {
  name: "nps",
  description:
    "Use it after you survey customers (send nps_submitted with score 0-10 and, optionally, reason). Promoters (9-10) are tagged nps_promoter and get a request for a review and a referral (review_url and referral_url event properties, else your site); passives (7-8) get a short thank-you; detractors (0-6) are tagged nps_detractor and get an apology with a direct line to support (support_email event property, else a reply). A detractor's reason is matched case-insensitively: one containing price, support, product or delivery also gets the tag nps_reason_price, nps_reason_support, nps_reason_product or nps_reason_delivery, so your team can segment and call them back. A contact may answer again in a later survey. Marketing mail: it reaches only contacts whose consent is subscribed; a guest checkout or a contact created by an event (consent none) is skipped.",
  flow: {
    name: "NPS follow-up",
    trigger: { event: "nps_submitted", where: { prop: "score", op: "exists" } },
    reentry: "after_exit",
    steps: [
      { id: "promoter", type: "branch", if: { prop: "score", op: "gte", value: 9 }, then: "tag_promoter", else: "detractor" },
      // The latest answer wins: tags from an earlier survey go.
      { id: "tag_promoter", type: "update", add_tags: ["nps_promoter"], remove_tags: ["nps_detractor", ...REASON_TAGS] },
      { id: "ask_review", type: "email", template: "nps-promoter", next: "done" },
      { id: "detractor", type: "branch", if: { prop: "score", op: "lte", value: 6 }, then: "tag_detractor", else: "untag_passive" },
      { id: "untag_passive", type: "update", remove_tags: ["nps_promoter", "nps_detractor", ...REASON_TAGS] },
      { id: "thank_passive", type: "email", template: "nps-passive", next: "done" },
      { id: "tag_detractor", type: "update", add_tags: ["nps_detractor"], remove_tags: ["nps_promoter", ...REASON_TAGS] },
      ...reasonTagging("apologise"),
      { id: "apologise", type: "email", template: "nps-detractor" },
      { id: "done", type: "exit" },
    ],
  },
  templates: [
    {
      id: "nps-promoter",
      subject: "Thank you{% if contact.first_name %}, {{ contact.first_name }}{% endif %}! Could you share that?",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Thank you for the {{ event.properties.score }} out of 10. It made our day. We are a small team, and word of mouth is how most of our customers find us.</p><p>If you have two minutes, a short review helps others decide with confidence. And if you know someone who would like us too, your referral link gives them a welcome gift.</p><p><a href="${urlFrom("referral_url")}" style="color:#1f6f5c">Share your referral link</a></p>`,
        { label: "Leave a review", url: urlFrom("review_url") },
      ),
    },
    {
      id: "nps-passive",
      subject: "Thanks for your feedback",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Thank you for rating us. We read every answer, and we would love to know what would make it a 10 for you. Just reply to this email with one thing we could do better.</p>`,
        { label: "Visit us", url: siteUrl },
      ),
    },
    {
      id: "nps-detractor",
      subject: "We are sorry, and we would like to make it right",
      html: emailLayout(
        `<p>Hi {{ contact.first_name | default: 'there' }},</p><p>Thank you for your honest answer. We are sorry we let you down{% if event.properties.reason %}, and we hear you: "{{ event.properties.reason }}"{% endif %}.</p><p>We would like to fix this. Reply to this email{% if event.properties.support_email %} or write to <a href="mailto:{{ event.properties.support_email }}" style="color:#1f6f5c">{{ event.properties.support_email }}</a>{% endif %} and a person from our team, not a bot, will get back to you within one working day.</p>`,
        { label: "Contact support", url: `${siteUrl}/support` },
      ),
    },
  ],
};

/**
 * The broadcast language of SPEC section 10 as zod schemas: the one source of
 * its types, of request validation and of the OpenAPI document. Shape only;
 * the checks that need the database (templates, segments) or the clock live in
 * the HTTP module, which reports them together with these.
 */
import { z } from "@hono/zod-openapi";
import { BoundedCondition, Condition, Duration, TimeOfDay, TimeZone } from "../flows/schema";
import { WINNER_METRICS } from "../reports/definition";

const TemplateId = z.string().min(1).max(64);

const SegmentAudience = z.object({ segment: z.string().min(1).max(64) }).strict();
const EveryoneAudience = z.object({ all: z.literal(true) }).strict();

/** Who a broadcast goes to: a saved segment, a condition (bounded as a segment's is), or every subscribed contact. */
export const BroadcastAudience = z.union([SegmentAudience, EveryoneAudience, BoundedCondition]).openapi("BroadcastAudience", {
  description: '`{"segment": id}`, `{"all": true}` or a condition (SPEC section 5), bounded as a segment\'s',
});
export type BroadcastAudience = z.infer<typeof BroadcastAudience>;

/** One arm of an A/B test: another subject, another template, or both. */
export const BroadcastVariant = z
  .object({ subject: z.string().min(1).max(998).optional(), template: TemplateId.optional() })
  .strict()
  .refine((v) => v.subject !== undefined || v.template !== undefined, { message: "A variant sets a subject, a template or both" })
  .openapi("BroadcastVariant");
export type BroadcastVariant = z.infer<typeof BroadcastVariant>;

/** The A/B test: variants to `sample_percent` of the audience, the winner by `metric` after `wait` to the rest. */
export const BroadcastAbTest = z
  .object({
    variants: z.array(BroadcastVariant).min(2).max(5),
    sample_percent: z
      .number()
      .int()
      .min(1)
      .max(99, "A sample of 100% leaves nobody for the winner")
      .openapi({ description: "Share of the audience that gets the variants, split evenly" }),
    metric: z.enum(WINNER_METRICS),
    wait: Duration.openapi({ description: "How long after the last sample email the winner is picked" }),
  })
  .strict()
  .openapi("BroadcastAbTest");
export type BroadcastAbTest = z.infer<typeof BroadcastAbTest>;

/** A broadcast, as `PUT /v1/broadcasts/:id` takes it. */
export const BroadcastInput = z
  .object({
    id: z.string().optional().openapi({ description: "Taken from the URL when absent; must match it when present" }),
    name: z.string().min(1).max(200),
    template: TemplateId,
    audience: BroadcastAudience,
    send_at: z.iso
      .datetime({ offset: true })
      .optional()
      .openapi({ description: "When to send; absent: when `send` is called", example: "2027-03-01T09:00:00Z" }),
    local_time: TimeOfDay.optional().openapi({ description: "Send at this time in each contact's time zone, within 24 h of send_at" }),
    timezone: TimeZone.optional().openapi({ description: "The zone of contacts who have none (default UTC)" }),
    quiet_hours: z
      .object({ start: TimeOfDay, end: TimeOfDay })
      .strict()
      .optional()
      .openapi({ description: "Broadcasts ignore quiet hours unless set here" }),
    ab_test: BroadcastAbTest.optional(),
    skip_if_emailed_within: Duration.optional().openapi({ description: "Leave out contacts who got marketing mail this recently" }),
  })
  .strict()
  .openapi("BroadcastInput");
export type BroadcastInput = z.infer<typeof BroadcastInput>;

/**
 * A broadcast's definition as stored, read back: BroadcastInput, but an audience condition saved before conditions
 * were bounded still reads (it compiles to SQL as compact as any), instead of failing every page and run that reads it.
 */
export const StoredBroadcast = BroadcastInput.extend({ audience: z.union([SegmentAudience, EveryoneAudience, Condition]) });

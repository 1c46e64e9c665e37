/**
 * Why mail was held or not sent, in the owner's words: enrollment exit reasons
 * and message statuses/reasons turned into labelled counts (consent,
 * suppression, quiet hours and the frequency cap, exits and goals). Pure.
 */

/** Enrollment exit reasons and message reasons, as the owner reads them. */
const REASONS: Record<string, string> = {
  not_subscribed: "Consent: not subscribed (pending confirmation or no consent), so no marketing email",
  unsubscribed: "Consent: unsubscribed",
  suppressed: "Suppression: the address bounced or complained",
  exit_event: "Left the flow on an exit event",
  exit_step: "Reached an exit step",
  goal: "Reached the goal",
  step_removed: "Their step was removed from the flow",
  flow_deleted: "The flow was deleted",
  step_limit: "Stopped: too many steps in one go (a loop)",
  completed: "Completed the flow",
  removed: "Removed from the flow by hand",
};

/** A reason code as a sentence; message reasons such as `consent: pending` or `suppressed: bounced` are read too. */
export function explainReason(reason: string | null): string {
  if (!reason) return "";
  const known = REASONS[reason];
  if (known) return known;
  const [kind, detail] = reason.split(/:\s*/, 2);
  if (kind === "consent") return `Consent: ${detail} at send time, so no marketing email`;
  if (kind === "suppressed") return `Suppression: ${detail}`;
  return reason;
}

/** The explanation for an enrollment resting on an email step: held until quiet hours end or the cap has room. */
export const HELD_AT_EMAIL = "Held before an email: quiet hours or the frequency cap (it is sent when they allow)";
/** The explanation for enrollments of a paused flow. */
export const HELD_BY_PAUSE = "Held: the flow is paused";

/** One labelled count of the flow page's "why no mail" table. */
export interface WhyCount {
  label: string;
  count: number;
}

/**
 * Counts of mail held or not sent for a flow: active enrollments resting on an
 * email step (held), exits that stopped mail, and unsent messages by status and reason.
 */
export function whyNoMail(
  counts: {
    enrollments: { status: string; reason: string | null; step: string | null; count: number }[];
    messages: { status: string; reason: string | null; count: number }[];
  },
  emailSteps: ReadonlySet<string>,
  paused: boolean,
): WhyCount[] {
  const totals = new Map<string, number>();
  const add = (label: string, n: number) => totals.set(label, (totals.get(label) ?? 0) + n);
  for (const e of counts.enrollments) {
    if (e.status === "active" && paused) add(HELD_BY_PAUSE, e.count);
    else if (e.status === "active" && e.step && emailSteps.has(e.step)) add(HELD_AT_EMAIL, e.count);
    else if (e.status === "exited" && e.reason && e.reason !== "exit_step") add(explainReason(e.reason), e.count);
  }
  for (const m of counts.messages) {
    if (m.status === "queued") add("Queued: due later or waiting for the next delivery run", m.count);
    else if (m.status === "suppressed") add(`Not sent · ${explainReason(m.reason) || "suppressed"}`, m.count);
    else if (m.status === "cancelled") add(`Cancelled · ${explainReason(m.reason) || "the enrollment ended"}`, m.count);
    else if (m.status === "failed") add(`Failed · ${m.reason ?? "the provider refused it"}`, m.count);
  }
  return [...totals].map(([label, count]) => ({ label, count })).sort((a, b) => b.count - a.count);
}

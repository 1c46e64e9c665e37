/**
 * A broadcast's test send: each version of it (the template, or every A/B
 * variant) rendered for the sample contact and sent now to one address typed
 * in, through the normal delivery path. Like a flow's test (http/flow-test) it
 * is kept out of the broadcast: its kind is `test`, it carries no
 * `broadcast_id`, so it emits no events and counts in no report or audience.
 */
import type { Database } from "../db/client";
import { insertMessagesWithLinks, type MessageLinks } from "../db/messages";
import type { BroadcastRow, NewMessageRow } from "../db/schema";
import { findTemplate } from "../db/templates";
import { draftMessage, SAMPLE_EVENT, sampleContact } from "../delivery/preview";
import { renderMessage } from "../delivery/render";
import { renderedColumns, unsendable } from "../delivery/sender";
import type { Config, Env } from "../env";
import { deliverNow } from "../pipeline/pipeline";
import { VARIANT_NAMES } from "./plan";
import { StoredBroadcast } from "./schema";

/** How one test message ended. */
export interface TestSent {
  id: string;
  variant: string | null;
  subject: string;
  status: string;
  reason: string | null;
}

/** Why a test could not be sent: a template is gone or a version does not render into a sendable email. */
export class TestSendProblem extends Error {}

/** Sends every version of the broadcast to `to` now, marked `[Test]`; returns how each ended. */
export async function sendBroadcastTest(env: Env, db: Database, config: Config, row: BroadcastRow, to: string, now: number) {
  const definition = StoredBroadcast.parse(row.definition);
  const versions = definition.ab_test
    ? definition.ab_test.variants.map((v, i) => ({
        variant: VARIANT_NAMES[i]!,
        template: v.template ?? definition.template,
        subject: v.subject,
      }))
    : [{ variant: null, template: definition.template, subject: undefined }];
  const contact = sampleContact(now);
  const run = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const rows: NewMessageRow[] = [];
  const linkRows: MessageLinks[] = [];
  for (const version of versions) {
    const stored = await findTemplate(db, version.template);
    if (!stored) throw new TestSendProblem(`Template ${version.template} does not exist`);
    // A variant's subject replaces the template's, as the sender does for the real messages.
    const template = version.subject === undefined ? stored : { ...stored, subject: version.subject };
    const message = draftMessage(
      {
        id: `test_${run}_${rows.length}`,
        kind: "test",
        toEmail: to,
        templateId: version.template,
        variant: version.variant,
        context: { event: { ...SAMPLE_EVENT, ts: now }, broadcast: { id: row.id, name: row.name } },
        // Keeps the variants' order in the outbox and in the recipient's inbox.
        dueAt: now + rows.length,
      },
      now,
    );
    const email = await renderMessage(message, template, contact, config);
    const refused = unsendable(email);
    if (refused) throw new TestSendProblem(`${version.variant ? `Variant ${version.variant}` : "The email"} cannot be sent: ${refused}`);
    const label = version.variant ? `[Test ${version.variant}]` : "[Test]";
    rows.push({ ...message, ...renderedColumns({ ...email, subject: `${label} ${email.subject}` }) });
    linkRows.push({ messageId: message.id, urls: email.links });
  }
  await insertMessagesWithLinks(db, rows, linkRows);
  await deliverNow(
    { env, config, db },
    rows.map((r) => r.id as string),
  );
  const sent = await Promise.all(rows.map((r) => db.query.messages.findFirst({ where: (m, { eq }) => eq(m.id, r.id as string) })));
  return sent.map((m): TestSent => ({ id: m!.id, variant: m!.variant, subject: m!.subject ?? "", status: m!.status, reason: m!.reason }));
}

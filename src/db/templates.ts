/** Template rows: saved by the API and the flow library, read by delivery and previews. */
import { asc, eq } from "drizzle-orm";
import type { Database } from "./client";
import { type TemplateRow, templates } from "./schema";

/** A template's content, as the API and the library write it. */
export interface TemplateContent {
  subject: string;
  html: string;
  text?: string | null;
  from?: string | null;
  replyTo?: string | null;
  preheader?: string | null;
}

/** Creates or replaces a template; `libraryHash` marks content installed from the library, unedited. */
export async function saveTemplate(
  db: Database,
  id: string,
  content: TemplateContent,
  now: number,
  libraryHash: string | null = null,
): Promise<{ template: TemplateRow; created: boolean }> {
  const values = {
    subject: content.subject,
    html: content.html,
    text: content.text ?? null,
    from: content.from ?? null,
    replyTo: content.replyTo ?? null,
    preheader: content.preheader ?? null,
    libraryHash,
    updatedAt: now,
  };
  const existed = (await findTemplate(db, id)) !== undefined;
  const [template] = await db
    .insert(templates)
    .values({ id, ...values, createdAt: now })
    .onConflictDoUpdate({ target: templates.id, set: values })
    .returning();
  return { template: template!, created: !existed };
}

/** One template, or undefined. */
export async function findTemplate(db: Database, id: string): Promise<TemplateRow | undefined> {
  return db.query.templates.findFirst({ where: eq(templates.id, id) });
}

/** Every template, by id. */
export async function listTemplates(db: Database): Promise<TemplateRow[]> {
  return db.select().from(templates).orderBy(asc(templates.id));
}

/** Deletes a template; false when there was none. */
export async function deleteTemplate(db: Database, id: string): Promise<boolean> {
  return (await db.delete(templates).where(eq(templates.id, id)).returning({ id: templates.id })).length > 0;
}

/**
 * Installs a library entry: its templates (never overwriting one a user has
 * edited, detected through `library_hash`, unless asked: refuse, overwrite,
 * or keep the edited ones) and its flow, paused; and puts a single library
 * template back as the library wrote it.
 */
import { inArray } from "drizzle-orm";
import type { Database } from "../db/client";
import { findFlow, type StoredFlow, saveFlow, setFlowStatus } from "../db/flows";
import { templates } from "../db/schema";
import { saveTemplate } from "../db/templates";
import { LIBRARY, type LibraryEntry, type LibraryTemplate } from "./catalog";

/** The outcome of an install: the flow, or the templates that would be overwritten. */
export type InstallResult = { ok: true; flow: StoredFlow; templates: string[] } | { ok: false; conflicts: string[] };

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The hash of a template's content as stored (subject + html). */
export function contentHash(t: { subject: string; html: string }): Promise<string> {
  return sha256Hex(JSON.stringify([t.subject, t.html]));
}

/** Edited unless its content is what the library installed, or already the library's. */
function editedSinceInstall(row: { libraryHash: string | null }, current: string, libraryHash: string): boolean {
  return current !== row.libraryHash && current !== libraryHash;
}

/** The entry's templates that were edited since the library installed them (an install would conflict on them). */
export async function editedTemplates(db: Database, entry: LibraryEntry): Promise<string[]> {
  const ids = entry.templates.map((t) => t.id);
  const existing = await db.select().from(templates).where(inArray(templates.id, ids));
  const byId = new Map(existing.map((r) => [r.id, r]));
  const edited: string[] = [];
  for (const t of entry.templates) {
    const row = byId.get(t.id);
    if (row && editedSinceInstall(row, await contentHash(row), await contentHash(t))) edited.push(t.id);
  }
  return edited;
}

/** What to do with templates edited since the library installed them: refuse the install, overwrite them, or keep them as edited. */
export type OnEdited = "refuse" | "overwrite" | "keep";

/** Installs an entry; the flow id is the entry name and it ends up paused. */
export async function installEntry(db: Database, entry: LibraryEntry, onEdited: OnEdited, now: number): Promise<InstallResult> {
  const ids = entry.templates.map((t) => t.id);
  const existing = await db.select().from(templates).where(inArray(templates.id, ids));
  const byId = new Map(existing.map((r) => [r.id, r]));
  const conflicts: string[] = [];
  const toWrite: { t: LibraryTemplate; hash: string }[] = [];
  for (const t of entry.templates) {
    const hash = await contentHash(t);
    const row = byId.get(t.id);
    if (row) {
      const current = await contentHash(row);
      if (editedSinceInstall(row, current, hash) && onEdited !== "overwrite") {
        if (onEdited === "refuse") conflicts.push(t.id);
        continue;
      }
      if (current === hash && row.libraryHash === hash) continue;
    }
    toWrite.push({ t, hash });
  }
  if (conflicts.length > 0) return { ok: false, conflicts };
  for (const { t, hash } of toWrite) {
    await saveTemplate(db, t.id, t, now, hash);
  }
  const before = await findFlow(db, entry.name);
  const { flow } = await saveFlow(db, entry.name, entry.flow, now);
  // A fresh flow is a draft; the library hands it over paused. An existing flow keeps its status.
  const final = before ? flow : ((await setFlowStatus(db, entry.name, "paused", now)) ?? flow);
  return { ok: true, flow: final, templates: ids };
}

/** The library's own version of a template, when the library has one with that id. */
export function libraryTemplate(id: string): LibraryTemplate | undefined {
  return LIBRARY.flatMap((entry) => entry.templates).find((t) => t.id === id);
}

/** Puts the library's version of a template back (marked unedited); false when the library has no such template. */
export async function restoreLibraryTemplate(db: Database, id: string, now: number): Promise<boolean> {
  const original = libraryTemplate(id);
  if (!original) return false;
  await saveTemplate(db, id, original, now, await contentHash(original));
  return true;
}

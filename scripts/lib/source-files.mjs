// The TypeScript sources below a folder, for the lint scripts that read src/ as text.
import { readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root folder. */
export const root = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));

/** Every .ts and .tsx file below `dir`, with its path relative to the root in forward slashes. */
export function* sourceFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(full);
    else if (/\.(ts|tsx)$/.test(entry.name)) yield { full, relative: path.relative(root, full).split(path.sep).join("/") };
  }
}

/**
 * The README, run as a newcomer would: every fenced `sh` block that calls the
 * API, in the order written, against a fresh `wrangler dev` on an empty
 * database, with the admin key for `KEY` and the harness's address for
 * `localhost:8787`. Every curl must answer 2xx. The blocks without curl
 * (install, test, deploy) are only checked to be npm/npx commands.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningWorker, startWorker } from "./harness.ts";

const root = path.resolve(import.meta.dirname, "..", "..");
const readme = readFileSync(path.join(root, "README.md"), "utf8");
const blocks = [...readme.matchAll(/^```sh\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
const apiBlocks = blocks.filter((b) => /\bcurl\b/.test(b));

/** Each curl in a block logs its status, one a line, and keeps its arguments and body, so a failure shows what came back. */
const CURL_WRAPPER = String.raw`
set -e
n=0
curl() {
  n=$((n + 1))
  local code
  code=$(command curl -sS -o "$WORK/body-$n" -w '%{http_code}' "$@")
  printf '%s\n' "$code" >> "$WORK/log"
  printf '%s\n' "--- $code $* ---" >> "$WORK/bodies"
  cat "$WORK/body-$n" >> "$WORK/bodies"
  printf '\n' >> "$WORK/bodies"
}
`;

let worker: RunningWorker;
let work: string;

beforeAll(async () => {
  worker = await startWorker();
  work = mkdtempSync(path.join(tmpdir(), "nurture-readme-"));
});

afterAll(async () => {
  await worker?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("every README example runs top to bottom on a fresh database", () => {
  it("the README has API examples, and its other sh blocks are only npm or npx commands", () => {
    expect(apiBlocks.length).toBeGreaterThanOrEqual(6);
    for (const block of blocks.filter((b) => !apiBlocks.includes(b))) {
      const commands = block.split("\n").filter((line) => line.trim() && !line.trim().startsWith("#"));
      for (const line of commands) expect(line, block).toMatch(/^(npm|npx) /);
    }
  });

  it("the erase example comes last", () => {
    expect(apiBlocks.at(-1)).toContain('-X DELETE -H "Authorization: Bearer $KEY" localhost:8787/v1/contacts/ada@example.com');
  });

  apiBlocks.forEach((block, i) => {
    const first = block
      .split("\n")
      .find((l) => /\bcurl\b/.test(l))!
      .trim();
    it(`block ${i + 1} (${first.slice(0, 70)}…): every curl answers 2xx`, () => {
      rmSync(path.join(work, "log"), { force: true });
      rmSync(path.join(work, "bodies"), { force: true });
      const script =
        CURL_WRAPPER +
        block
          .replace(/^KEY=\.\.\..*$/m, "") // KEY comes from the environment: the harness's admin key
          .replaceAll("localhost:8787", new URL(worker.url).host);
      const run = spawnSync("bash", ["-c", script], {
        encoding: "utf8",
        // The README's blocks write files (an export > contacts.csv): into the scratch folder, not the repo.
        cwd: work,
        env: { ...process.env, KEY: worker.adminKey, WORK: work },
        timeout: 60_000,
      });
      const bodies = (() => {
        try {
          return readFileSync(path.join(work, "bodies"), "utf8");
        } catch {
          return "";
        }
      })();
      expect(run.status, `${run.stderr}\n${bodies}`).toBe(0);
      const statuses = readFileSync(path.join(work, "log"), "utf8").trim().split("\n");
      expect(statuses.length).toBe(bodies.match(/^--- \d{3} /gm)?.length);
      for (const status of statuses) expect(status, bodies).toMatch(/^2\d\d$/);
    });
  });
});

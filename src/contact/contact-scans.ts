/**
 * Walks over a flow's contacts that can outgrow one invocation, carried across cron runs: waking the held
 * enrollments of a flow activated again (`resume`), and the date and inactivity scans (`date`, `inactive`; which
 * contacts are due is contact/time-triggers'). A walk is a row of `contact_scans` whose cursor is the last contact
 * id handed over. A page reads the next contacts in id order, hands them to their ContactTimers (idempotent: an
 * occurrence enrolls once, a resume wakes only what is due) and only then moves the cursor by compare-and-set, so
 * a crash repeats at most that page and, of two overlapping runs, one goes on. A run stops when its pages or the
 * invocation's ContactTimer calls (contact/call-budget) are spent; the every-minute cron takes up the rest.
 */

import type { Database } from "../db/client";
import {
  activeEnrollmentContacts,
  type ContactScanStart,
  finishContactScan,
  moveContactScan,
  runningContactScans,
  startContactScans,
} from "../db/contact-scans";
import { activeFlowsWithTriggerPrefix, flowsByIds, type StoredFlow } from "../db/flows";
import type { ContactScanKind, ContactScanRow } from "../db/schema";
import type { Env } from "../env";
import { callEachTimer, type TimerCallBudget } from "./call-budget";
import { contactTimer } from "./dispatch";
import { dateScanPage, inactiveScanPage, type PageEnd, pageEnd, type ScanPage } from "./time-triggers";

/** How far one run may go: pages (each two D1 queries besides its calls) and contact rows read per page. */
export interface ScanLimits {
  pages: number;
  readRows: number;
}

/** Ten pages of 200 rows: 22 D1 queries at most, inside Free's 50 per invocation with the cron's other work. */
export const DEFAULT_SCAN_LIMITS: ScanLimits = { pages: 10, readRows: 200 };
/** Running walks looked at per run: the oldest first, so a new one waits for those before it. */
const SCANS_PER_RUN = 20;

/** What a run did, for logs and tests. */
export interface ScanRunReport {
  pages: number;
  finished: string[];
}

/** The time-trigger walk a flow needs, if any. */
function timeScanKind(flow: StoredFlow): ContactScanKind | null {
  const trigger = flow.definition.trigger;
  if ("date" in trigger) return "date";
  if ("inactive_for" in trigger) return "inactive";
  return null;
}

/** On activation: starts over the walks that wake the flow's held enrollments and, for a time trigger, its scan. */
export async function startActivationScans(db: Database, flow: StoredFlow, now: number): Promise<void> {
  const kind = timeScanKind(flow);
  const scans: ContactScanStart[] = [{ kind: "resume", flowId: flow.id }, ...(kind ? [{ kind, flowId: flow.id }] : [])];
  await startContactScans(db, scans, now, true);
}

/** The daily job: starts the scan of every active date and inactivity flow (a scan still running keeps its place). */
export async function startDailyScans(db: Database, now: number): Promise<void> {
  const flows = [...(await activeFlowsWithTriggerPrefix(db, "date:")), ...(await activeFlowsWithTriggerPrefix(db, "inactive"))];
  const scans = flows.flatMap((flow) => {
    const kind = timeScanKind(flow);
    return kind ? [{ kind, flowId: flow.id }] : [];
  });
  await startContactScans(db, scans, now, false);
}

/** Carries running walks forward (optionally only one flow's) within the run's limits and ContactTimer calls. */
export async function advanceContactScans(
  env: Env,
  db: Database,
  now: number,
  calls: TimerCallBudget,
  { limits = DEFAULT_SCAN_LIMITS, flowId }: { limits?: ScanLimits; flowId?: string } = {},
): Promise<ScanRunReport> {
  const report: ScanRunReport = { pages: 0, finished: [] };
  const scans = await runningContactScans(db, SCANS_PER_RUN, flowId);
  if (scans.length === 0) return report;
  const flows = await flowsByIds(
    db,
    scans.map((s) => s.flowId),
  );
  for (const scan of scans) {
    let cursor = scan.cursor;
    for (;;) {
      if (report.pages >= limits.pages || calls.remaining === 0) return report;
      const flow = flows.get(scan.flowId);
      // Paused, deleted, or its trigger changed kind since: the walk has nothing left to do.
      if (flow?.status !== "active" || (scan.kind !== "resume" && timeScanKind(flow) !== scan.kind)) {
        await finishContactScan(db, scan.id, cursor);
        break;
      }
      const end = await scanPage(scan.kind, { env, db, flow, after: cursor, now, calls, readRows: limits.readRows });
      report.pages++;
      if (end === null) {
        await finishContactScan(db, scan.id, cursor);
        report.finished.push(scan.id);
        break;
      }
      // Another run moved it first, or the walk was started over: that run goes on.
      if (!(await moveContactScan(db, scan.id, cursor, end, now))) break;
      cursor = end;
    }
  }
  return report;
}

function scanPage(kind: ContactScanRow["kind"], page: ScanPage): Promise<PageEnd> {
  switch (kind) {
    case "resume":
      return resumePage(page);
    case "date":
      return dateScanPage(page);
    case "inactive":
      return inactiveScanPage(page);
  }
}

/** Wakes the next contacts with an active enrollment in the flow (read from the D1 mirror). */
async function resumePage({ env, db, flow, after, calls, readRows }: ScanPage): Promise<PageEnd> {
  const limit = Math.min(readRows, calls.remaining);
  const ids = await activeEnrollmentContacts(db, flow.id, after, limit);
  calls.take(ids.length);
  // One that fails twice stays held until the flow is activated again.
  await callEachTimer(
    ids,
    (id) => contactTimer(env, id).resumeFlow(id, flow.id),
    (id) => ({ task: "wake held enrollments", contact_id: id, flow_id: flow.id }),
  );
  return pageEnd(ids, limit);
}

// status.integrity and the IntegrityVerified condition come from `restic check` only: a check that
// found no errors makes integrity true, one that found damage false (with restic's words), one that
// could not run (network, credentials) leaves integrity as it was and says why. And when the next
// check is due. Pure: the reconcilers pass the clock.

import { setCondition, toApiTime, type Condition, type ConditionInput } from "../../api/conditions.ts";
import type { LastCheck, Repository, RepositoryStatus } from "../../api/repository.ts";
import { ANNOTATION_CHECK_NOW } from "../../api/repository.ts";
import type { JobOutcome } from "../sessions/outcome.ts";
import { decideSchedule } from "../backupconfiguration/schedule.ts";

export const INTEGRITY_CONDITION = "IntegrityVerified";

type Finished = Extract<JobOutcome, { state: "finished" }>;

/** What a finished check Job says, as status.lastCheck. */
export function lastCheckFrom(outcome: Finished, jobName: string, trigger: string | undefined, subset: string | undefined, now: Date): LastCheck {
  const result: LastCheck["result"] = outcome.succeeded ? "Passed" : outcome.reason === "RepositoryDamaged" ? "Damaged" : "Failed";
  const check: LastCheck = {
    job: jobName,
    time: toApiTime(outcome.finishedAt ?? now),
    result,
    reason: outcome.succeeded ? "CheckPassed" : outcome.reason,
    message: outcome.succeeded ? "restic check found no errors" : outcome.message,
  };
  if (subset) check.readDataSubset = subset;
  if (trigger?.startsWith("request:")) check.request = trigger.slice("request:".length);
  if (trigger?.startsWith("schedule:")) check.scheduledFor = toApiTime(new Date(Number(trigger.slice("schedule:".length)) * 1000));
  return check;
}

/** The condition status.lastCheck implies. */
export function integrityCondition(check: LastCheck): ConditionInput {
  const read = check.readDataSubset ? `read data subset ${check.readDataSubset}` : "structure only, no data read";
  if (check.result === "Passed") return { type: INTEGRITY_CONDITION, status: "True", reason: "CheckPassed", message: `restic check at ${check.time} (${read}) found no errors` };
  if (check.result === "Damaged") return { type: INTEGRITY_CONDITION, status: "False", reason: "RepositoryDamaged", message: `restic check at ${check.time} (${read}): ${check.message}` };
  return { type: INTEGRITY_CONDITION, status: "Unknown", reason: check.reason, message: `restic check at ${check.time} (${read}) could not run: ${check.message}` };
}

/**
 * The Repository status fields a check owns: integrity (only a check that ran to the end changes
 * it), lastCheck, and the IntegrityVerified condition among the others (merged, so the Repository
 * controller's conditions stay as they are).
 */
export function integrityStatus(current: RepositoryStatus | undefined, check: LastCheck, now: Date): Pick<RepositoryStatus, "integrity" | "lastCheck" | "conditions"> {
  const integrity = check.result === "Passed" ? true : check.result === "Damaged" ? false : current?.integrity;
  const conditions = setCondition(current?.conditions as Condition[] | undefined, integrityCondition(check), now) as RepositoryStatus["conditions"];
  return { integrity, lastCheck: check, conditions };
}

/** Whether the condition on the object still says what lastCheck says (another writer may have dropped it). */
export function integrityConditionCurrent(status: RepositoryStatus | undefined): boolean {
  const check = status?.lastCheck;
  if (!check) return true;
  const want = integrityCondition(check);
  const have = status?.conditions?.find((c) => (c.type as string) === INTEGRITY_CONDITION);
  return !!have && have.status === want.status && have.reason === want.reason && have.message === want.message;
}

export type CheckDue = { due: true; trigger: string; seed: string; readDataSubset?: string } | { due: false; nextMs?: number; problem?: string };

/**
 * Whether a check should be queued now: the check-now annotation has a value no check answered
 * yet, or the schedule has a time since the last scheduled check (only the latest missed time
 * runs). `pending`: triggers of check Jobs that exist and have not been taken yet.
 */
export function checkDue(repository: Repository, pending: ReadonlySet<string>, now: Date): CheckDue {
  const spec = repository.spec?.integrityCheck;
  const last = repository.status?.lastCheck;
  const subset = nextSubset(spec?.readDataSubset, last?.readDataSubset);
  const request = repository.metadata?.annotations?.[ANNOTATION_CHECK_NOW];
  if (request && request !== last?.request && !pending.has(`request:${request}`)) {
    return { due: true, trigger: `request:${request}`, seed: `r${shortSeed(request)}`, ...(subset ? { readDataSubset: subset } : {}) };
  }
  if (!spec?.schedule) return { due: false };
  const created = repository.metadata?.creationTimestamp ? new Date(repository.metadata.creationTimestamp) : now;
  const since = last?.scheduledFor ? new Date(last.scheduledFor) : created;
  let decision;
  try {
    decision = decideSchedule(spec.schedule, since, now);
  } catch (err) {
    return { due: false, problem: err instanceof Error ? err.message : String(err) };
  }
  const nextMs = Math.max(1000, decision.next.getTime() - now.getTime());
  if (!decision.due) return { due: false, nextMs };
  const at = Math.floor(decision.due.getTime() / 1000);
  if (pending.has(`schedule:${at}`)) return { due: false, nextMs };
  return { due: true, trigger: `schedule:${at}`, seed: `${at}`, ...(subset ? { readDataSubset: subset } : {}) };
}

/**
 * The subset the next check reads: a percentage as it is (restic picks packs at random); "n/t"
 * rotates through 1/t … t/t starting at n, so t checks read every pack once.
 */
export function nextSubset(spec: string | undefined, last: string | undefined): string | undefined {
  if (!spec) return undefined;
  const want = /^(\d+)\/(\d+)$/.exec(spec);
  if (!want) return spec;
  const t = Number(want[2]);
  const prev = last ? /^(\d+)\/(\d+)$/.exec(last) : null;
  if (!prev || Number(prev[2]) !== t) return spec;
  return `${(Number(prev[1]) % t) + 1}/${t}`;
}

function shortSeed(s: string): string {
  // Annotation values are free text; the name needs a few DNS-safe characters that change with it.
  let h = 0;
  for (const ch of s) h = (Math.imul(h, 31) + ch.charCodeAt(0)) >>> 0;
  return h.toString(36);
}

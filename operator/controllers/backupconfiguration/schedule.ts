import { CronExpressionParser } from "cron-parser";

export interface ScheduleDecision {
  /** The latest scheduled time in (since, now], if any: a backup is due for it. */
  due?: Date;
  /** The first scheduled time after now: when to look again. */
  next: Date;
  /** Scheduled times that were missed in (since, now] besides `due` (operator down, paused, …). */
  missed: number;
}

export class ScheduleError extends Error {}

/**
 * Decides, like the kubebuilder CronJob controller, whether a backup is due: only the most recent
 * missed time runs (a backlog of backups after an outage helps nobody), and nothing older than
 * `since` (the last scheduled time, or the configuration's creation) counts. Schedules are UTC
 * unless told otherwise, whatever the operator's TZ (cron-parser would use the process's). A sixth,
 * leading field is seconds ("*\/5 * * * * *").
 */
export function decideSchedule(schedule: string, since: Date, now: Date, timezone = "UTC"): ScheduleDecision {
  let expr;
  try {
    expr = CronExpressionParser.parse(schedule, { currentDate: since, tz: timezone });
  } catch (err) {
    throw new ScheduleError(`schedule "${schedule}" is not a valid cron expression: ${err instanceof Error ? err.message : String(err)}`);
  }
  let due: Date | undefined;
  let missed = 0;
  for (let i = 0; i < 100_000; i++) {
    const t = expr.next().toDate();
    if (t.getTime() > now.getTime()) return { due, next: t, missed };
    if (due) missed++;
    due = t;
  }
  // More than 100k missed runs (a per-minute schedule down for ~70 days): skip ahead from now.
  const fresh = CronExpressionParser.parse(schedule, { currentDate: now, tz: timezone });
  return { due, next: fresh.next().toDate(), missed };
}

/** Checks a cron expression without evaluating it further; returns the problem, or undefined. */
export function validateSchedule(schedule: string): string | undefined {
  try {
    CronExpressionParser.parse(schedule);
    return undefined;
  } catch (err) {
    return `schedule "${schedule}" is not a valid cron expression: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** A deterministic session name per scheduled time, so a restarted operator never creates two. */
export function scheduledSessionName(configName: string, scheduledAt: Date): string {
  const suffix = `-${Math.floor(scheduledAt.getTime() / 1000)}`;
  return `${configName.slice(0, 63 - suffix.length).replace(/-+$/, "")}${suffix}`;
}

export interface SessionSummary {
  name: string;
  created: Date;
  finished: boolean;
}

/**
 * Finished sessions beyond the newest `limit` finished ones, oldest first. Running ones are kept.
 * Creation times have one-second resolution; within a second the name that sorts last is the newer
 * (backup-1, backup-2; scheduled names end in their Unix time).
 */
export function sessionsBeyondHistoryLimit(sessions: SessionSummary[], limit: number): string[] {
  const finished = sessions.filter((s) => s.finished).sort((a, b) => b.created.getTime() - a.created.getTime() || b.name.localeCompare(a.name));
  return finished.slice(Math.max(0, limit)).reverse().map((s) => s.name);
}

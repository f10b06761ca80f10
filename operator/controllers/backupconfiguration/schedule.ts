import { CronExpressionParser } from "cron-parser";
import { formatDuration, parseDuration } from "../../config/duration.ts";

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

/** The forms cron-parser accepts, for messages about schedules it does not. */
export const SCHEDULE_FORMS =
  'five fields "minute hour day-of-month month day-of-week" (e.g. "0 2 * * *", "*/15 * * * *"), six with a leading seconds field ' +
  '(e.g. "30 0 2 * * *"), or one of @yearly, @annually, @monthly, @weekly, @daily, @hourly, @weekdays, @weekends';

/**
 * Checks a cron expression, and that its runs are at least `minIntervalMs` apart (a schedule that
 * fires every second would create a session per second). Returns the problem, or undefined.
 */
export function validateSchedule(schedule: string, minIntervalMs = 0): string | undefined {
  try {
    CronExpressionParser.parse(schedule, { tz: "UTC" });
  } catch (err) {
    const every = /^@every\s+(\S+)$/.exec(schedule.trim());
    if (every) {
      const cron = cronForEvery(every[1]!);
      return (
        `schedule "${schedule}" is robfig/cron's @every form, which blobstash's cron (cron-parser) does not read: ` +
        `${cron ? `write it as "${cron}"` : "write the interval as a cron expression"}. Accepted: ${SCHEDULE_FORMS}`
      );
    }
    return `schedule "${schedule}" is not a valid cron expression (${err instanceof Error ? err.message : String(err)}). Accepted: ${SCHEDULE_FORMS}`;
  }
  const gap = shortestInterval(schedule);
  if (gap < minIntervalMs) {
    return (
      `schedule "${schedule}" runs every ${formatDuration(gap)}, and scheduled backups run at most once every ${formatDuration(minIntervalMs)} ` +
      `(the operator's --min-schedule-interval): each backup is a restic run and a snapshot. Use a longer interval, e.g. "*/15 * * * *"`
    );
  }
  return undefined;
}

const intervals = new Map<string, number>();

/**
 * The shortest time between two consecutive runs, over the runs of a year's first eight days (every
 * second-to-weekday repetition shows there; cron-parser steps slowly, so no further) or its first
 * 200 runs, whichever ends first. Remembered per expression.
 */
export function shortestInterval(schedule: string): number {
  const known = intervals.get(schedule);
  if (known !== undefined) return known;
  const expr = CronExpressionParser.parse(schedule, { currentDate: new Date(Date.UTC(2026, 0, 1)), tz: "UTC" });
  const first = expr.next().getTime();
  let previous = first;
  let shortest = Infinity;
  for (let i = 0; i < 200 && shortest > 1000 && previous - first < 8 * 86_400_000 && expr.hasNext(); i++) {
    const t = expr.next().getTime();
    shortest = Math.min(shortest, t - previous);
    previous = t;
  }
  if (intervals.size > 1000) intervals.clear();
  intervals.set(schedule, shortest);
  return shortest;
}

/** A cron expression for `@every <duration>` when one runs at the same times (whole minutes dividing an hour, hours dividing a day). */
export function cronForEvery(duration: string): string | undefined {
  const ms = parseDuration(duration);
  if (!ms) return undefined;
  const minutes = ms / 60_000;
  const hours = ms / 3_600_000;
  if (ms === 86_400_000) return "0 0 * * *";
  if (Number.isInteger(hours) && 24 % hours === 0) return hours === 1 ? "0 * * * *" : `0 */${hours} * * *`;
  if (Number.isInteger(minutes) && 60 % minutes === 0) return minutes === 1 ? "* * * * *" : `*/${minutes} * * * *`;
  return undefined;
}

/** A deterministic session name per scheduled time, so a restarted operator never creates two. */
export function scheduledSessionName(configName: string, scheduledAt: Date): string {
  const suffix = `-${Math.floor(scheduledAt.getTime() / 1000)}`;
  // A cut may end in "." or "-", which cannot precede "-<time>" in a valid name.
  return `${configName.slice(0, 63 - suffix.length).replace(/[-.]+$/, "")}${suffix}`;
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

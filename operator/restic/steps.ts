// What the backup and restore flows share: turning a failed restic run into a reason and message,
// and the pieces of a result.

import type { ErrorSamples, JobResult, ResultAction, ResultReason, ResultStep } from "../api/result.ts";
import { truncateText } from "../api/result.ts";
import { redact } from "../observability/redact.ts";
import { logger } from "../observability/logger.ts";
import { reasonFor, sasOutsideValidity } from "./reasons.ts";
import type { BackupPlan, CheckPlan, ForgetPlan, RestorePlan } from "./flags.ts";
import type { ItemError } from "./messages.ts";
import { failureText, type ResticContext, type ResticRun } from "./runner.ts";
import { MEMORY_LIMIT_ENV, oomKills, resticMemoryLimit } from "./memory.ts";

/** Why the flow's signal was aborted: the wrapper's own deadline, or a signal from outside. */
export type AbortCause = "timeout" | "interrupted";

export interface FlowDeps {
  /** Aborted with an AbortCause as its reason. */
  signal: AbortSignal;
  now: () => Date;
  /** The SAS restic uses, to tell an expired token from a bad one. */
  sas?: string;
  /** The timeout the wrapper was given, for messages. */
  timeoutMs?: number;
  /** How long restic gets after SIGINT before SIGKILL (see ResticContext). */
  forceKillAfterMs?: number;
}

export interface Problem {
  step: ResultStep;
  reason: ResultReason;
  message: string;
  exitCode?: number;
}

/** Longest message kept per problem; the result's serializer cuts further to fit 4 KiB. */
const MESSAGE_MAX = 1500;

export function abortCause(signal: AbortSignal): AbortCause | undefined {
  if (!signal.aborted) return undefined;
  return signal.reason === "timeout" ? "timeout" : "interrupted";
}

/** The problem a failed (or stopped) restic run amounts to. */
export function problemOf(step: ResultStep, run: ResticRun, deps: FlowDeps): Problem {
  if (run.notFound) return { step, reason: "ResticNotFound", message: "the restic binary was not found (set --restic or BLOBSTASH_RESTIC)" };
  const text = failureText(run);
  const cause = run.aborted ? abortCause(deps.signal) : undefined;
  let reason: ResultReason;
  let message: string;
  if (run.overflow) {
    reason = "ResticFailed";
    message = run.overflow;
  } else if (run.gaveUp) {
    reason = run.gaveUp;
    message = `stopped restic, which kept retrying what retrying cannot fix: ${run.lastRetry ?? text}`;
  } else if (killedForMemory(run)) {
    reason = "OutOfMemory";
    message = memoryMessage();
  } else if (cause) {
    const retrying = run.lastRetry ? reasonFor(1, run.lastRetry) : undefined;
    const why = cause === "timeout" ? `stopped before the Job's timeOut${deps.timeoutMs ? ` (${Math.round(deps.timeoutMs / 1000)}s)` : ""}` : "stopped by a termination signal";
    // restic retries network failures for up to 15 minutes; when that is what it was doing, that is the cause.
    reason = retrying && retrying !== "ResticFailed" ? retrying : cause === "timeout" ? "Timeout" : "Interrupted";
    message = run.lastRetry ? `${why}; restic was retrying: ${run.lastRetry}` : why;
  } else {
    reason = reasonFor(run.exitCode, text, { sasExpired: sasOutsideValidity(deps.sas, deps.now()) });
    message = text;
  }
  const p: Problem = { step, reason, message: truncateText(redact(message), MESSAGE_MAX) };
  if (run.exitCode !== undefined) p.exitCode = run.exitCode;
  return p;
}

/** A problem that is not restic's (bad output, a missing directory). */
export function problem(step: ResultStep, reason: ResultReason, message: string): Problem {
  return { step, reason, message: truncateText(redact(message), MESSAGE_MAX) };
}

/** The result's identity fields from the flow's problems: the first problem decides the reason. */
export function verdict(
  action: ResultAction,
  started: Date,
  ended: Date,
  problems: readonly Problem[],
  outcome: JobResult["outcome"],
): JobResult {
  const result: JobResult = {
    version: 1,
    action,
    outcome,
    reason: problems[0]?.reason ?? "Succeeded",
    startTime: started.toISOString(),
    endTime: ended.toISOString(),
  };
  const first = problems[0];
  if (first) {
    result.step = first.step;
    if (first.exitCode !== undefined) result.exitCode = first.exitCode;
    result.message = problems.map((p) => (problems.length > 1 ? `${p.step}: ${p.message}` : p.message)).join("\n");
  }
  return result;
}

/**
 * restic names files by their absolute path; inside the Job that is the volume's mount (or, in
 * local runs, a host directory). Results show paths inside the volume instead.
 */
export function volumeRelative(text: string, root: string): string {
  const prefix = root.endsWith("/") ? root : `${root}/`;
  return text.split(prefix).join("/");
}

/** One per-file error for the result: restic's message (which names the file), volume-relative. */
export function errorSample(e: ItemError, root: string): string {
  const text = e.item && !e.message.includes(e.item) ? `${e.item}: ${e.message}` : e.message;
  return volumeRelative(text, root);
}

export function resticContext(plan: BackupPlan | RestorePlan | CheckPlan | ForgetPlan, deps: Pick<FlowDeps, "signal" | "forceKillAfterMs">): ResticContext {
  const ctx: ResticContext = {
    binary: plan.restic,
    repository: plan.repository,
    options: plan.options,
    noCache: plan.noCache,
    // One status line per second: enough for progress logs, cheap to parse.
    env: { RESTIC_PROGRESS_FPS: "1", ...goMemLimit() },
    signal: deps.signal,
  };
  if (deps.forceKillAfterMs !== undefined) ctx.forceKillAfterMs = deps.forceKillAfterMs;
  if (plan.cacheDir) ctx.cacheDir = plan.cacheDir;
  return ctx;
}

/** A path restic names (absolute, under the mount), as a path inside the volume ("/" for its root). */
export function volumePathOf(item: string, root: string): string {
  const base = root.endsWith("/") ? root.slice(0, -1) : root;
  if (item === base) return "/";
  if (item.startsWith(`${base}/`)) return item.slice(base.length);
  // restic names some items as given on its command line: relative to the volume, where it runs.
  if (!item.startsWith("/")) return `/${item.replace(/^(\.\/)+/, "")}`.replace(/^\/\.?$/, "/");
  return item;
}

/** The per-file errors of a run for the result: restic's first messages and the paths they name. */
export function errorSamplesOf(count: number, samples: readonly ItemError[], root: string): ErrorSamples {
  const out: ErrorSamples = { count, samples: samples.map((e) => errorSample(e, root)) };
  const paths = samples.flatMap((e) => (e.item ? [volumePathOf(e.item, root)] : []));
  if (paths.length > 0) out.paths = paths;
  return out;
}

/** "/a, /b and 3 more": the first paths of a list, for one-line messages. */
export function firstPaths(paths: readonly string[], total: number, shown = 3): string {
  const head = paths.slice(0, shown).join(", ");
  const more = total - Math.min(shown, paths.length);
  return more > 0 ? `${head} and ${more} more` : head;
}

function goMemLimit(): Record<string, string> {
  const limit = resticMemoryLimit(process.env, process.memoryUsage.rss());
  if (!limit) return {};
  logger.info("restic's GOMEMLIMIT follows the container's memory limit", { gomemlimit: Number(limit), containerLimit: Number(process.env[MEMORY_LIMIT_ENV]) });
  return { GOMEMLIMIT: limit };
}

/** OOM kills in the container before restic ran, so that a kill during the run can be told apart. */
const oomBefore = oomKills();

/** A restic run killed by the kernel for memory (it died of a signal, and the cgroup counted a kill). */
export function killedForMemory(run: ResticRun): Problem["reason"] | undefined {
  if (run.exitCode !== undefined || run.aborted || run.notFound) return undefined;
  const now = oomKills();
  return now !== undefined && now > (oomBefore ?? 0) ? "OutOfMemory" : undefined;
}

function memoryMessage(): string {
  const limit = Number(process.env[MEMORY_LIMIT_ENV]);
  const text = Number.isSafeInteger(limit) && limit > 0 ? ` of ${Math.round(limit / 1048576)} MiB` : "";
  return `the kernel killed restic at the container's memory limit${text}: raise runtimeSettings.container.resources.limits.memory`;
}

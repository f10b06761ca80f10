// `blobstash backup …` / `blobstash restore …`: the restic wrapper that Job pods run. It reads its
// plan from flags (flags.ts) and credentials from the environment, runs the flow, writes ONE JSON
// result to the termination log (api/result.ts) and exits 0 (Succeeded), 3 (Partial), 1 (Failed) or
// 2 (bad command line; a result is still written when the action is known).

import os from "node:os";
import { writeFile } from "node:fs/promises";
import { serializeJobResult, type JobResult, type ResultAction } from "../api/result.ts";
import { logger, registerSecret } from "../observability/logger.ts";
import { redactDeep } from "../observability/redact.ts";
import { backupFlow } from "./backup-flow.ts";
import { parseWrapperArgs, USAGE } from "./flags.ts";
import { restoreFlow } from "./restore-flow.ts";
import { checkFlow, forgetFlow } from "./maintenance-flow.ts";
import { FORCE_KILL_AFTER_MS } from "./runner.ts";
import type { AbortCause, FlowDeps } from "./steps.ts";
import { trustEnv } from "./trust.ts";

export const EXIT_SUCCEEDED = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
export const EXIT_PARTIAL_RESULT = 3;

/** Secrets restic and Azure read from the environment; never to appear in a log line or the result. */
const SECRET_ENV = ["RESTIC_PASSWORD", "AZURE_ACCOUNT_SAS", "AZURE_ACCOUNT_KEY", "AZURE_CLIENT_SECRET"];

/**
 * How long before the timeout restic is stopped, so the wrapper can still write a result before
 * Kubernetes kills the pod at activeDeadlineSeconds: a tenth of it, between 5 s and 60 s.
 */
export function deadlineMargin(timeoutMs: number): number {
  const margin = Math.min(60_000, Math.max(5_000, timeoutMs / 10));
  return margin < timeoutMs ? margin : timeoutMs / 2;
}

/**
 * How long from `nowMs` until restic is stopped: the margin before the timeOut ends at `endsAtMs`.
 * Kubernetes counts activeDeadlineSeconds from the Job's start, before the pod is even scheduled, so
 * the end is an absolute time the operator wrote when it created the Job; scheduling, mounting and
 * starting the container (seconds on a busy node) all come out of the timeOut.
 */
export function stopAfterMs(timeoutMs: number, endsAtMs: number, nowMs: number): number {
  return Math.max(0, endsAtMs - deadlineMargin(timeoutMs) - nowMs);
}

/**
 * How long restic gets to exit after SIGINT at the timeout before it is killed: half the margin, so
 * the result is written before the deadline even when restic cannot clean up (its lock removal
 * retries for as long as the endpoint is unreachable).
 */
export function forceKillAfterMs(timeoutMs: number): number {
  return Math.min(FORCE_KILL_AFTER_MS, deadlineMargin(timeoutMs) / 2);
}

export function exitCodeFor(result: JobResult): number {
  return result.outcome === "Succeeded" ? EXIT_SUCCEEDED : result.outcome === "Partial" ? EXIT_PARTIAL_RESULT : EXIT_FAILED;
}

/**
 * Runs the wrapper. `startedAtMs`: when this process started (the entry point passes it from Node's
 * uptime); without --deadline the timeOut counts from then.
 */
export async function runWrapper(argv: string[], opts: { startedAtMs?: number } = {}): Promise<number> {
  const env = process.env;
  registerSecrets(env);
  const parsed = parseWrapperArgs(argv, env);
  if (!parsed.ok) {
    process.stderr.write(`blobstash: ${parsed.error}\n${USAGE}\n`);
    if (parsed.action) await writeResult(parsed.resultFile, failure(parsed.action, "InvalidArguments", parsed.error));
    return EXIT_USAGE;
  }
  const plan = parsed.plan;
  if (!env.RESTIC_PASSWORD && !env.RESTIC_PASSWORD_FILE && !env.RESTIC_PASSWORD_COMMAND) {
    const message = "RESTIC_PASSWORD is not set (the Job reads it from its credentials Secret)";
    logger.error(message);
    await writeResult(plan.resultFile, failure(plan.action, "InvalidArguments", message));
    return EXIT_USAGE;
  }

  try {
    // restic inherits this process's environment: the combined bundle applies to every restic run.
    Object.assign(env, await trustEnv(env, env.TMPDIR ?? os.tmpdir()));
  } catch (err) {
    const message = (err as Error).message;
    logger.error(message);
    await writeResult(plan.resultFile, failure(plan.action, "InvalidArguments", message));
    return EXIT_USAGE;
  }

  const controller = new AbortController();
  const stop = (cause: AbortCause) => {
    if (controller.signal.aborted) return;
    logger.warn(cause === "timeout" ? "timeOut is about to end: stopping restic" : "termination signal: stopping restic");
    controller.abort(cause);
  };
  const onSignal = () => stop("interrupted");
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const now = Date.now();
  const endsAt = plan.timeoutMs === undefined ? undefined : (plan.deadlineAtMs ?? (opts.startedAtMs ?? now) + plan.timeoutMs);
  const timer = plan.timeoutMs !== undefined && endsAt !== undefined ? setTimeout(() => stop("timeout"), stopAfterMs(plan.timeoutMs, endsAt, now)) : undefined;
  timer?.unref();

  const deps: FlowDeps = { signal: controller.signal, now: () => new Date() };
  if (env.AZURE_ACCOUNT_SAS) deps.sas = env.AZURE_ACCOUNT_SAS;
  if (plan.timeoutMs !== undefined) {
    deps.timeoutMs = plan.timeoutMs;
    deps.forceKillAfterMs = forceKillAfterMs(plan.timeoutMs);
  }
  let result: JobResult;
  try {
    result =
      plan.action === "backup"
        ? await backupFlow(plan, deps)
        : plan.action === "restore"
          ? await restoreFlow(plan, deps)
          : plan.action === "check"
            ? await checkFlow(plan, deps)
            : await forgetFlow(plan, deps);
  } catch (err) {
    // A bug in the wrapper must still leave a result, or the session would only say "no result".
    result = failure(plan.action, "ResticFailed", `internal error: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    if (timer) clearTimeout(timer);
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
  }
  logger.info(`${plan.action} ${result.outcome}`, { result });
  await writeResult(plan.resultFile, result);
  return exitCodeFor(result);
}

function registerSecrets(env: NodeJS.ProcessEnv): void {
  for (const key of SECRET_ENV) registerSecret(env[key]);
  // The signature alone is what identifies a SAS; restic re-encodes and reorders the query string.
  const sas = env.AZURE_ACCOUNT_SAS;
  if (sas) {
    try {
      registerSecret(new URLSearchParams(sas.replace(/^\?/, "")).get("sig") ?? undefined);
    } catch {
      // An unreadable SAS is registered whole above.
    }
  }
}

function failure(action: ResultAction, reason: JobResult["reason"], message: string): JobResult {
  const now = new Date().toISOString();
  return { version: 1, action, outcome: "Failed", reason, message, startTime: now, endTime: now };
}

async function writeResult(file: string, result: JobResult): Promise<void> {
  try {
    // Every string was redacted where it was made; this is the last line of defence.
    await writeFile(file, serializeJobResult(redactDeep(result)));
  } catch (err) {
    // Run by hand there may be no termination log; the result is in the log line above.
    logger.error("could not write the result", { file, error: err instanceof Error ? err.message : String(err) });
  }
}

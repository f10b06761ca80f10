// The maintenance Jobs' work. check: `restic check --no-lock` (its SAS can only read and list),
// optionally with --read-data-subset; damage is reported as RepositoryDamaged with restic's own
// words. forget: remove stale locks, then `restic forget <id>` (with --prune when asked); an id
// restic does not have counts as done.

import type { JobResult } from "../api/result.ts";
import { logger } from "../observability/logger.ts";
import { makeScratchDirs } from "./backup-flow.ts";
import type { CheckPlan, ForgetPlan } from "./flags.ts";
import { checkFoundDamage, runCheck, runForgetSnapshot } from "./maintenance.ts";
import { EXIT_OK } from "./reasons.ts";
import { runUnlock } from "./unlock.ts";
import { problem, problemOf, resticContext, verdict, type FlowDeps, type Problem } from "./steps.ts";

export async function checkFlow(plan: CheckPlan, deps: FlowDeps): Promise<JobResult> {
  const started = deps.now();
  const problems: Problem[] = [];
  const check = plan.readDataSubset ? { readDataSubset: plan.readDataSubset } : {};
  const done = (outcome: JobResult["outcome"]): JobResult => ({ ...verdict("check", started, deps.now(), problems, outcome), check });
  const scratch = await makeScratchDirs(plan.cacheDir);
  if (scratch) {
    problems.push(scratch);
    return done("Failed");
  }
  logger.info("checking the repository", { readDataSubset: plan.readDataSubset ?? "none" });
  const c = await runCheck(resticContext(plan, deps), plan.readDataSubset);
  if (c.run.exitCode === EXIT_OK) return done("Succeeded");
  if (checkFoundDamage(c)) {
    const words = c.errors.length > 0 ? c.errors.join("\n") : (c.run.exitError?.message ?? "restic check reported errors");
    problems.push(problem("check", "RepositoryDamaged", `restic check found ${c.errorCount} error(s):\n${words}`));
    return done("Failed");
  }
  problems.push(problemOf("check", c.run, deps));
  return done("Failed");
}

export async function forgetFlow(plan: ForgetPlan, deps: FlowDeps): Promise<JobResult> {
  const started = deps.now();
  const problems: Problem[] = [];
  const snapshot = { id: plan.snapshot };
  const done = (outcome: JobResult["outcome"]): JobResult => ({ ...verdict("forget", started, deps.now(), problems, outcome), snapshot });
  const scratch = await makeScratchDirs(plan.cacheDir);
  if (scratch) {
    problems.push(scratch);
    return done("Failed");
  }
  const ctx = resticContext(plan, deps);
  // forget takes an exclusive lock, which any stale lock (a killed pod's) would block.
  const unlock = await runUnlock(ctx);
  if (unlock.exitCode !== EXIT_OK) logger.warn("unlock failed; trying forget anyway", { exitCode: unlock.exitCode });
  logger.info("forgetting snapshot", { snapshot: plan.snapshot, prune: plan.prune });
  const run = await runForgetSnapshot(ctx, plan.snapshot, plan.prune);
  if (run.exitCode !== EXIT_OK) {
    problems.push(problemOf("forget", run, deps));
    return done("Failed");
  }
  return done("Succeeded");
}



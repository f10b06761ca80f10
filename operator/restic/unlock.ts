// `restic unlock` without --remove-all removes only stale locks (of processes that no longer run on
// this host, or not refreshed for 30 minutes); a lock held by a live process stays, so it may run
// while other restic commands work on the repository (backup-flow.ts runs it beside `stats`).

import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export function unlockArgs(): string[] {
  return ["unlock"];
}

export function runUnlock(ctx: ResticContext): Promise<ResticRun> {
  return runRestic(ctx, unlockArgs());
}

// `restic unlock` without --remove-all removes only stale locks (of processes that no longer run on
// this host, or not refreshed for 30 minutes); a lock held by a live process stays, so it can run
// beside the backup whose way it clears (backup-flow.ts).

import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export function unlockArgs(): string[] {
  return ["unlock"];
}

export function runUnlock(ctx: ResticContext): Promise<ResticRun> {
  return runRestic(ctx, unlockArgs());
}

// `restic unlock` without --remove-all removes only stale locks (from processes that died, or not
// refreshed for 30 minutes); a lock held by a live process elsewhere stays. Run before a backup, it
// also opens the repository, so its exit code doubles as the probe: 10 no repository, 12 wrong
// password.

import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export function unlockArgs(): string[] {
  return ["unlock"];
}

export function runUnlock(ctx: ResticContext): Promise<ResticRun> {
  return runRestic(ctx, unlockArgs());
}

// restic's memory inside a Job's container. The container's limit (the downward API puts it in
// BLOBSTASH_MEMORY_LIMIT) becomes restic's GOMEMLIMIT, less what the wrapper itself holds, so a
// limit makes Go collect garbage sooner instead of the kernel killing the container. When the
// kernel kills restic alone anyway (cgroup v1, or a kubelet that kills only the biggest process),
// the cgroup's oom_kill counter says it was memory.

import { readFileSync } from "node:fs";

/** Set by the Job builder from `limits.memory` (bytes, as the downward API gives it). */
export const MEMORY_LIMIT_ENV = "BLOBSTASH_MEMORY_LIMIT";
/** Room kept beside the wrapper's own resident memory: restic's stacks and what Go does not count. */
const MARGIN = 16 * 1024 * 1024;

/**
 * GOMEMLIMIT for restic: the limit less the wrapper's resident memory and a margin, never below
 * half the limit; undefined without a limit, or when GOMEMLIMIT was set by hand (it wins).
 */
export function resticMemoryLimit(env: NodeJS.ProcessEnv, wrapperRss: number): string | undefined {
  if (env.GOMEMLIMIT) return undefined;
  const limit = Number(env[MEMORY_LIMIT_ENV]);
  if (!Number.isSafeInteger(limit) || limit <= 0) return undefined;
  return String(Math.max(Math.floor(limit / 2), limit - wrapperRss - MARGIN));
}

/** The kernel's OOM kills in this container's cgroup (v2 memory.events, else v1's oom_control), if it can be read. */
export function oomKills(root = "/sys/fs/cgroup"): number | undefined {
  for (const [file, key] of [["memory.events", "oom_kill"], ["memory/memory.oom_control", "oom_kill"]] as const) {
    try {
      const m = new RegExp(`^${key} (\\d+)$`, "m").exec(readFileSync(`${root}/${file}`, "utf8"));
      if (m) return Number(m[1]);
    } catch {
      // Not this cgroup version, or not in a container.
    }
  }
  return undefined;
}

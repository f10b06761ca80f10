// What a finished restore says beyond restic's exit code: restic exits 0 when its filters matched
// nothing, and a session that reported plain success would let a typo in `include` or `paths` pass
// for a restore. Pure.

import type { RestoreRule } from "../../api/backup.ts";
import type { JobOutcome } from "../sessions/outcome.ts";

type Finished = Extract<JobOutcome, { state: "finished" }>;

/**
 * A successful restore that wrote nothing (restic's total_files 0, which counts directories too)
 * fails with NothingRestored when the rule filtered (its include or paths matched nothing), and
 * succeeds with NothingRestored when the snapshot itself holds nothing.
 */
export function judgeRestore(rule: RestoreRule | undefined, outcome: Finished): Finished {
  const figures = outcome.result?.restore;
  if (!outcome.succeeded || !figures || figures.totalFiles > 0) return outcome;
  const snapshot = outcome.result?.snapshot?.id ? `snapshot ${outcome.result.snapshot.id.slice(0, 8)}` : "the snapshot";
  const paths = (rule?.paths ?? []).filter((p) => p.replace(/\/+/g, "/") !== "/");
  const filters = [
    ...(paths.length ? [`paths ${JSON.stringify(paths)}`] : []),
    ...(rule?.include?.length ? [`include ${JSON.stringify(rule.include)}`] : []),
  ];
  if (filters.length) {
    return {
      ...outcome,
      succeeded: false,
      reason: "NothingRestored",
      message:
        `nothing was restored: ${filters.join(" and ")} match nothing in ${snapshot}. Paths are relative to the volume's root as it was backed up ` +
        `(restic ls ${outcome.result?.snapshot?.id?.slice(0, 8) ?? "<snapshot>"} lists them)`,
    };
  }
  return { ...outcome, reason: "NothingRestored", message: `${snapshot} holds no files: nothing was restored (the volume was empty when it was backed up)` };
}

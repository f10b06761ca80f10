// `restic forget --json` with a retention policy, limited to this backup's host and tags so
// configurations that share a repository never remove each other's snapshots; `--prune` removes
// the unreferenced data in the same run (restic takes the exclusive lock once).

import { isRecord, parseDocument, stringArray, type Parsed } from "./json-doc.ts";
import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

export interface RetentionRules {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  keepYearly?: number;
  keepTags: string[];
  prune: boolean;
  dryRun: boolean;
}

export function hasRules(r: RetentionRules): boolean {
  return [r.keepLast, r.keepHourly, r.keepDaily, r.keepWeekly, r.keepMonthly, r.keepYearly].some((n) => (n ?? 0) > 0) || r.keepTags.length > 0;
}

export function forgetArgs(r: RetentionRules, scope: { host: string; tags: string[] }): string[] {
  const out = ["forget", "--host", scope.host];
  // Several --tag flags mean "any of"; one comma-joined flag means "all of", which is the group.
  if (scope.tags.length > 0) out.push("--tag", scope.tags.join(","));
  out.push("--group-by", "host,tags");
  const counts: Array<[number | undefined, string]> = [
    [r.keepLast, "--keep-last"],
    [r.keepHourly, "--keep-hourly"],
    [r.keepDaily, "--keep-daily"],
    [r.keepWeekly, "--keep-weekly"],
    [r.keepMonthly, "--keep-monthly"],
    [r.keepYearly, "--keep-yearly"],
  ];
  for (const [n, flag] of counts) if (n !== undefined && n > 0) out.push(flag, String(n));
  for (const t of r.keepTags) out.push("--keep-tag", t);
  if (r.prune) out.push("--prune");
  if (r.dryRun) out.push("--dry-run");
  return out;
}

export interface ForgetGroup {
  host: string;
  tags: string[];
  keep: string[];
  remove: string[];
}

/** Parses `forget --json`. No output at all means no snapshot matched: nothing kept, nothing removed. */
export function parseForget(stdout: string): Parsed<ForgetGroup[]> {
  if (stdout.trim() === "") return { ok: true, value: [] };
  const doc = parseDocument(stdout, "forget");
  if (!doc.ok) return doc;
  if (!Array.isArray(doc.value)) return { ok: false, error: "forget: expected a JSON array" };
  const ids = (list: unknown): string[] =>
    Array.isArray(list) ? list.filter(isRecord).map((s) => (typeof s.short_id === "string" ? s.short_id : String(s.id ?? "").slice(0, 8))) : [];
  return {
    ok: true,
    value: doc.value.filter(isRecord).map((g) => ({
      host: typeof g.host === "string" ? g.host : "",
      tags: stringArray(g.tags),
      keep: ids(g.keep),
      remove: ids(g.remove),
    })),
  };
}

export interface ForgetOutcome {
  run: ResticRun;
  groups?: ForgetGroup[];
  parseError?: string;
}

export async function runForget(ctx: ResticContext, r: RetentionRules, scope: { host: string; tags: string[] }): Promise<ForgetOutcome> {
  const run = await runRestic(ctx, forgetArgs(r, scope), { collectStdout: true });
  if (run.exitCode !== 0) return { run };
  const parsed = parseForget(run.stdout);
  return parsed.ok ? { run, groups: parsed.value } : { run, parseError: parsed.error };
}

// `restic forget --json` with a retention policy, limited to this backup's host and tags so
// configurations that share a repository never remove each other's snapshots; `--prune` removes
// the unreferenced data in the same run (restic takes the exclusive lock once).

import { keepFlags, type KeepRules } from "../api/backup.ts";
import { isRecord } from "../api/json.ts";
import { parseDocument, stringArray, type Parsed } from "./json-doc.ts";
import { runRestic, type ResticContext, type ResticRun } from "./runner.ts";

/** The keep rules and what to do with what they do not keep, as the wrapper's flags give them. */
export interface RetentionRules extends KeepRules {
  keepTags: string[];
  prune: boolean;
  dryRun: boolean;
}

export function forgetArgs(r: RetentionRules, scope: { host: string; tags: string[] }): string[] {
  const out = ["forget", "--host", scope.host];
  // Several --tag flags mean "any of"; one comma-joined flag means "all of", which is the group.
  if (scope.tags.length > 0) out.push("--tag", scope.tags.join(","));
  out.push("--group-by", "host,tags", ...keepFlags(r));
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

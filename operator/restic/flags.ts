// The wrapper's command line. The Job builders (controllers/*/job.ts) write it; people running the
// wrapper by hand can too. Every path comes in as a flag, so the Job spec says where everything is.

import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { DEFAULT_SNAPSHOT_HOST, hasKeepRule, KEEP_COUNTS } from "../api/backup.ts";
import { parseDuration } from "../config/duration.ts";
import type { RetentionRules } from "./forget.ts";
import { validReadDataSubset } from "./maintenance.ts";

export const DEFAULT_RESULT_FILE = "/dev/termination-log";
export const DEFAULT_PROGRESS_INTERVAL_MS = 10_000;

export const USAGE = `usage:
  blobstash backup  --repo REPO --source DIR [--path REL]... [--exclude PATTERN]... [--host NAME] [--tag TAG]...
                    [--keep-last N] [--keep-hourly N] [--keep-daily N] [--keep-weekly N] [--keep-monthly N]
                    [--keep-yearly N] [--keep-tag TAG]... [--prune] [--dry-run] [common flags]
  blobstash restore --repo REPO --target DIR [--snapshot ID|latest] [--snapshot-host NAME] [--snapshot-namespace NS]
                    [--include PATTERN]... [--exclude PATTERN]... [--overwrite always|if-changed|if-newer|never]
                    [--delete] [common flags]
  blobstash check   --repo REPO [--read-data-subset P%|N/T] [common flags]
  blobstash forget  --repo REPO --snapshot ID [--prune] [common flags]
common flags:
  --option KEY=VALUE      restic -o (e.g. azure.connections=5), repeatable
  --cache-dir DIR | --no-cache
  --result-file FILE      where the JSON result goes (default $BLOBSTASH_RESULT_FILE or ${DEFAULT_RESULT_FILE})
  --timeout DURATION      the Job's timeOut: restic is stopped a little before it, so a result is written
  --deadline TIME         when that timeOut ends (RFC 3339; the operator writes the Job's creation time
                          plus timeOut, as Kubernetes counts from the Job's start); default: start + --timeout
  --progress-interval DURATION   (default 10s)
  --restic PATH           restic binary (default $BLOBSTASH_RESTIC or "restic" on PATH)
environment: RESTIC_PASSWORD, and for Azure AZURE_ACCOUNT_NAME, AZURE_ACCOUNT_SAS, AZURE_ENDPOINT_SUFFIX`;

interface CommonPlan {
  restic: string;
  repository: string;
  options: string[];
  cacheDir?: string;
  noCache: boolean;
  resultFile: string;
  timeoutMs?: number;
  /** When the timeOut ends (epoch ms), if the caller knows better than "timeOut from now". */
  deadlineAtMs?: number;
  progressIntervalMs: number;
}

export interface BackupPlan extends CommonPlan {
  action: "backup";
  /** Absolute directory the paths are relative to: the volume's mount. */
  source: string;
  /** Relative paths ("." for everything). */
  paths: string[];
  excludes: string[];
  host: string;
  tags: string[];
  /** Present when the policy has at least one keep rule. */
  retention?: RetentionRules;
}

export interface RestorePlan extends CommonPlan {
  action: "restore";
  snapshot: string;
  snapshotHost?: string;
  /** Only snapshots tagged "<namespace>/<configuration>" by a backup of this namespace may be restored. */
  snapshotNamespace?: string;
  target: string;
  includes: string[];
  excludes: string[];
  /** restic's --overwrite for files in both the snapshot and the target (restic's default: if-changed). */
  overwrite?: OverwriteMode;
  /** restic's --delete: remove what the target holds and the snapshot does not (within the filters). */
  deleteExtra?: boolean;
}

export const OVERWRITE_MODES = ["always", "if-changed", "if-newer", "never"] as const;
export type OverwriteMode = (typeof OVERWRITE_MODES)[number];

/** `restic check --no-lock`, reading `readDataSubset` of the packs when set. */
export interface CheckPlan extends CommonPlan {
  action: "check";
  readDataSubset?: string;
}

/** `restic forget <id>` of one snapshot (a Snapshot object deleted with kubectl). */
export interface ForgetPlan extends CommonPlan {
  action: "forget";
  snapshot: string;
  prune: boolean;
}

export type WrapperAction = "backup" | "restore" | "check" | "forget";
export type WrapperPlan = BackupPlan | RestorePlan | CheckPlan | ForgetPlan;

export type ParsedWrapperArgs =
  | { ok: true; plan: WrapperPlan }
  | { ok: false; error: string; action?: WrapperAction; resultFile: string };

const COMMON = {
  repo: { type: "string" },
  option: { type: "string", multiple: true },
  "cache-dir": { type: "string" },
  "no-cache": { type: "boolean" },
  "result-file": { type: "string" },
  timeout: { type: "string" },
  deadline: { type: "string" },
  "progress-interval": { type: "string" },
  restic: { type: "string" },
  exclude: { type: "string", multiple: true },
} as const;

const BACKUP = {
  ...COMMON,
  source: { type: "string" },
  path: { type: "string", multiple: true },
  host: { type: "string" },
  tag: { type: "string", multiple: true },
  "keep-last": { type: "string" },
  "keep-hourly": { type: "string" },
  "keep-daily": { type: "string" },
  "keep-weekly": { type: "string" },
  "keep-monthly": { type: "string" },
  "keep-yearly": { type: "string" },
  "keep-tag": { type: "string", multiple: true },
  prune: { type: "boolean" },
  "dry-run": { type: "boolean" },
} as const;

const RESTORE = {
  ...COMMON,
  snapshot: { type: "string" },
  "snapshot-host": { type: "string" },
  "snapshot-namespace": { type: "string" },
  target: { type: "string" },
  include: { type: "string", multiple: true },
  overwrite: { type: "string" },
  delete: { type: "boolean" },
} as const;

const CHECK = { ...COMMON, "read-data-subset": { type: "string" } } as const;
const FORGET = { ...COMMON, snapshot: { type: "string" }, prune: { type: "boolean" } } as const;

class FlagError extends Error {}

/** Parses `backup …` / `restore …` (argv[0] is the action). Pure: env is passed in. */
export function parseWrapperArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ParsedWrapperArgs {
  const [action, ...rest] = argv;
  const resultFile = findFlag(rest, "--result-file") ?? env.BLOBSTASH_RESULT_FILE ?? DEFAULT_RESULT_FILE;
  if (action !== "backup" && action !== "restore" && action !== "check" && action !== "forget") {
    return { ok: false, error: `unknown action "${action ?? ""}"; expected backup, restore, check or forget`, resultFile };
  }
  const planners = { backup: backupPlan, restore: restorePlan, check: checkPlan, forget: forgetPlan } as const;
  try {
    return { ok: true, plan: planners[action](rest, env, resultFile) };
  } catch (err) {
    const message = err instanceof FlagError ? err.message : err instanceof Error ? err.message : String(err);
    return { ok: false, error: message, action, resultFile };
  }
}

function common(values: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>, resultFile: string): CommonPlan {
  const repository = str(values.repo);
  if (!repository) throw new FlagError("--repo is required");
  const options = (values.option as string[] | undefined) ?? [];
  for (const o of options) if (!/^[^=\s]+=/.test(o)) throw new FlagError(`--option "${o}" is not KEY=VALUE`);
  const plan: CommonPlan = {
    restic: str(values.restic) ?? env.BLOBSTASH_RESTIC ?? "restic",
    repository,
    options,
    noCache: values["no-cache"] === true,
    resultFile,
    progressIntervalMs: duration(values["progress-interval"], "--progress-interval") ?? DEFAULT_PROGRESS_INTERVAL_MS,
  };
  const cacheDir = str(values["cache-dir"]);
  if (cacheDir) plan.cacheDir = absolute(cacheDir, "--cache-dir");
  const timeoutMs = duration(values.timeout, "--timeout");
  if (timeoutMs !== undefined) plan.timeoutMs = timeoutMs;
  const deadline = str(values.deadline);
  if (deadline !== undefined) {
    if (timeoutMs === undefined) throw new FlagError("--deadline needs --timeout (the margin before it depends on the timeOut)");
    const at = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(deadline) ? Date.parse(deadline) : NaN;
    if (Number.isNaN(at)) throw new FlagError(`--deadline "${deadline}" is not an RFC 3339 time`);
    plan.deadlineAtMs = at;
  }
  return plan;
}

function backupPlan(args: string[], env: Readonly<Record<string, string | undefined>>, resultFile: string): BackupPlan {
  const { values } = parse(args, BACKUP);
  const source = str(values.source);
  if (!source) throw new FlagError("--source is required (the directory to back up from)");
  const paths = (values.path ?? ["."]).map((p) => {
    if (p.startsWith("/") || p.split("/").includes("..")) throw new FlagError(`--path "${p}" must be relative to --source and must not contain ".."`);
    return p;
  });
  const host = str(values.host) ?? DEFAULT_SNAPSHOT_HOST;
  const tags = values.tag ?? [];
  for (const s of [host, ...tags]) if (/[,\s]/.test(s) || s === "") throw new FlagError(`host and tags must be non-empty without commas or spaces ("${s}")`);
  const rules: RetentionRules = { keepTags: values["keep-tag"] ?? [], prune: values.prune === true, dryRun: values["dry-run"] === true };
  for (const [key, flag] of KEEP_COUNTS) {
    const n = count(values[flag], `--${flag}`);
    if (n !== undefined) rules[key] = n;
  }
  const anyRule = hasKeepRule(rules);
  if (!anyRule && (rules.prune || rules.dryRun)) throw new FlagError("--prune and --dry-run need at least one --keep-* rule");
  const plan: BackupPlan = {
    action: "backup",
    ...common(values, env, resultFile),
    source: absolute(source, "--source"),
    paths,
    excludes: values.exclude ?? [],
    host,
    tags,
  };
  if (anyRule) plan.retention = rules;
  return plan;
}

function restorePlan(args: string[], env: Readonly<Record<string, string | undefined>>, resultFile: string): RestorePlan {
  const { values } = parse(args, RESTORE);
  const target = str(values.target);
  if (!target) throw new FlagError("--target is required (the directory to restore into)");
  const snapshot = str(values.snapshot) ?? "latest";
  if (snapshot !== "latest" && !/^[0-9a-f]{4,64}$/.test(snapshot)) throw new FlagError(`--snapshot "${snapshot}" is neither "latest" nor a snapshot id`);
  const includes = values.include ?? [];
  const excludes = values.exclude ?? [];
  if (includes.length > 0 && excludes.length > 0) throw new FlagError("restic cannot restore with both --include and --exclude");
  const plan: RestorePlan = { action: "restore", ...common(values, env, resultFile), snapshot, target: absolute(target, "--target"), includes, excludes };
  const host = str(values["snapshot-host"]);
  if (host) plan.snapshotHost = host;
  const namespace = str(values["snapshot-namespace"]);
  if (namespace !== undefined) {
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) throw new FlagError(`--snapshot-namespace "${namespace}" is not a namespace name`);
    plan.snapshotNamespace = namespace;
  }
  const overwrite = str(values.overwrite);
  if (overwrite !== undefined) {
    if (!(OVERWRITE_MODES as readonly string[]).includes(overwrite)) throw new FlagError(`--overwrite "${overwrite}" is not one of ${OVERWRITE_MODES.join(", ")}`);
    plan.overwrite = overwrite as OverwriteMode;
  }
  if (values.delete) plan.deleteExtra = true;
  return plan;
}

function checkPlan(args: string[], env: Readonly<Record<string, string | undefined>>, resultFile: string): CheckPlan {
  const { values } = parse(args, CHECK);
  const plan: CheckPlan = { action: "check", ...common(values, env, resultFile) };
  const subset = str(values["read-data-subset"]);
  if (subset !== undefined) {
    if (!validReadDataSubset(subset)) throw new FlagError(`--read-data-subset "${subset}" is neither a percentage (10%) nor n/t (1/5)`);
    plan.readDataSubset = subset;
  }
  return plan;
}

function forgetPlan(args: string[], env: Readonly<Record<string, string | undefined>>, resultFile: string): ForgetPlan {
  const { values } = parse(args, FORGET);
  const snapshot = str(values.snapshot);
  if (!snapshot || !/^[0-9a-f]{64}$/.test(snapshot)) throw new FlagError(`--snapshot must be a full snapshot id (64 hex digits)`);
  return { action: "forget", ...common(values, env, resultFile), snapshot, prune: values.prune === true };
}

function parse<T extends ParseArgsOptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (err) {
    throw new FlagError(err instanceof Error ? err.message : String(err));
  }
}

/** The value of a flag before full parsing, so even a bad command line gets its result written. */
function findFlag(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === flag) return args[i + 1];
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
  }
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v !== "" ? v : undefined;
}

function absolute(p: string, flag: string): string {
  if (!p.startsWith("/")) throw new FlagError(`${flag} "${p}" must be an absolute path`);
  return p;
}

function duration(v: unknown, flag: string): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  const ms = parseDuration(s);
  if (ms === undefined || ms <= 0) throw new FlagError(`${flag} "${s}" is not a duration such as 30s, 30m or 1h30m`);
  return ms;
}

function count(v: unknown, flag: string): number | undefined {
  const s = str(v);
  if (s === undefined) return undefined;
  if (!/^\d+$/.test(s) || Number(s) < 1) throw new FlagError(`${flag} "${s}" must be a positive whole number`);
  return Number(s);
}

import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { parseDuration } from "./duration.ts";
import { adminPolicy, parseIdentityGrants, type AzureAdminPolicy, type OperatorIdentity } from "../azure/admin-policy.ts";
import { endpointSuffixProblem } from "../azure/endpoint.ts";

export interface OperatorOptions {
  kubeconfig?: string;
  metricsAddress: string;
  revalidatePeriodMs: number;
  sasWarnBeforeMs: number;
  /** The endpoint suffixes and the operator identity the admin lets tenants use. */
  azurePolicy: AzureAdminPolicy;
  logLevel: string;
  concurrency: number;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  /** How long a Lease holder's record must stay unrenewed before a standby takes it. */
  leaseDurationMs: number;
  /** How long the holder keeps acting without a successful renewal. */
  renewDeadlineMs: number;
  /** How often the holder renews (and a standby tries to take the Lease). */
  retryPeriodMs: number;
  identity: string;
  /** Empty: every namespace (ClusterRole). Otherwise only these (Roles per namespace). */
  watchNamespaces: string[];
  /** Image the backup and restore Jobs run (the same image, wrapper role). */
  jobImage: string;
  /** A PEM bundle the operator trusts (NODE_EXTRA_CA_CERTS) and passes on to every Job. */
  extraCaFile?: string;
  /** The timeOut (Go duration) of sessions that set none. */
  defaultJobTimeOut: string;
  /** Per-Job credentials live this long after the Job's deadline. */
  jobCredentialSlackMs: number;
  /** A session waiting for its Repository to be validated fails after this long, with the Repository's reason. */
  repositoryWaitLimitMs: number;
  /** Schedules whose runs come closer than this are refused (the BackupConfiguration is Invalid). */
  minScheduleIntervalMs: number;
  /** A Job whose pod has not started this long after the Job was created is deleted and its session fails. */
  podStartLimitMs: number;
  nodeLostLimitMs: number;
  /** How often each Repository's snapshots are listed from Azure to catch changes made outside the cluster; 0 turns Snapshot objects off. */
  snapshotSyncPeriodMs: number;
  /** Snapshot objects per namespace, shared among its Repositories (the newest snapshots get them). */
  snapshotMaxPerNamespace: number;
}

const FLAGS = {
  kubeconfig: { type: "string", env: "KUBECONFIG", help: "kubeconfig file (default: in-cluster)" },
  "metrics-address": { type: "string", env: "BLOBSTASH_METRICS_ADDRESS", default: ":8080", help: "address for /metrics, /healthz, /readyz" },
  "snapshot-sync-period": { type: "string", env: "BLOBSTASH_SNAPSHOT_SYNC_PERIOD", default: "60s", help: "how often Snapshot objects are compared with each repository (one Azure listing); 0 turns them off" },
  "snapshot-max-per-namespace": { type: "string", env: "BLOBSTASH_SNAPSHOT_MAX_PER_NAMESPACE", default: "10000", help: "Snapshot objects per namespace, shared fairly among its Repositories (the newest snapshots of each)" },
  "revalidate-period": { type: "string", env: "BLOBSTASH_REVALIDATE_PERIOD", default: "60s", help: "how often a Ready Repository is probed again" },
  "sas-warn-before": { type: "string", env: "BLOBSTASH_SAS_WARN_BEFORE", default: "168h", help: "warn (SasExpiringSoon) this long before a SAS expires" },
  "default-endpoint-suffix": { type: "string", env: "BLOBSTASH_DEFAULT_ENDPOINT_SUFFIX", default: "core.windows.net", help: "Azure endpoint suffix when the Secret has none" },
  "allowed-endpoint-suffixes": { type: "string", env: "BLOBSTASH_ALLOWED_ENDPOINT_SUFFIXES", default: "", help: "comma-separated endpoint suffixes Secrets may name besides the Azure clouds and the default" },
  "operator-identity": { type: "string", env: "BLOBSTASH_OPERATOR_IDENTITY", default: "none", help: "the operator's own Azure identity for Secrets without a credential: none, workloadIdentity or managedIdentity" },
  "operator-identity-client-id": { type: "string", env: "BLOBSTASH_OPERATOR_IDENTITY_CLIENT_ID", help: "client ID of a user-assigned managed identity (managedIdentity)" },
  "operator-identity-grants": { type: "string", env: "BLOBSTASH_OPERATOR_IDENTITY_GRANTS", default: "[]", help: 'JSON list of {"namespaces":[..],"account":..,"containers":[..]} allowed to use that identity ("*" matches any)' },
  "log-level": { type: "string", env: "BLOBSTASH_LOG_LEVEL", default: "info", help: "error, warn, info or debug" },
  concurrency: { type: "string", env: "BLOBSTASH_CONCURRENCY", default: "8", help: "reconciles in parallel per controller" },
  "leader-elect": { type: "string", env: "BLOBSTASH_LEADER_ELECT", default: "true", help: "use a Lease so only one replica acts" },
  "leader-election-namespace": { type: "string", env: "POD_NAMESPACE", default: "blobstash-system", help: "namespace of the Lease" },
  "leader-election-id": { type: "string", env: "BLOBSTASH_LEADER_ELECTION_ID", default: "blobstash-operator", help: "name of the Lease" },
  "leader-elect-lease-duration": { type: "string", env: "BLOBSTASH_LEADER_ELECT_LEASE_DURATION", default: "15s", help: "a standby takes a Lease left unrenewed this long" },
  "leader-elect-renew-deadline": { type: "string", env: "BLOBSTASH_LEADER_ELECT_RENEW_DEADLINE", default: "10s", help: "the leader stops acting when it could not renew for this long" },
  "leader-elect-retry-period": { type: "string", env: "BLOBSTASH_LEADER_ELECT_RETRY_PERIOD", default: "2s", help: "how often the Lease is renewed or tried" },
  identity: { type: "string", env: "POD_NAME", help: "this replica's name in the Lease, followed by a per-process suffix (default: hostname)" },
  "watch-namespaces": { type: "string", env: "BLOBSTASH_WATCH_NAMESPACES", default: "", help: "comma-separated namespaces to watch (default: all)" },
  "job-image": { type: "string", env: "BLOBSTASH_JOB_IMAGE", default: "ghcr.io/blobstash/blobstash:latest", help: "image for backup and restore Jobs" },
  "extra-ca-file": { type: "string", env: "BLOBSTASH_EXTRA_CA_FILE", help: "PEM bundle passed on to Jobs beside the system roots (proxy or private endpoint CA)" },
  "default-job-timeout": { type: "string", env: "BLOBSTASH_DEFAULT_JOB_TIMEOUT", default: "6h", help: "timeOut of sessions that set none (their Job's deadline and its SAS lifetime)" },
  "job-credential-slack": { type: "string", env: "BLOBSTASH_JOB_CREDENTIAL_SLACK", default: "15m", help: "minted SAS lifetime beyond the Job deadline" },
  "repository-wait-limit": { type: "string", env: "BLOBSTASH_REPOSITORY_WAIT_LIMIT", default: "5m", help: "how long a session waits for its Repository to be validated before it fails" },
  "min-schedule-interval": { type: "string", env: "BLOBSTASH_MIN_SCHEDULE_INTERVAL", default: "1m", help: "schedules whose runs come closer than this are refused" },
  "pod-start-limit": { type: "string", env: "BLOBSTASH_POD_START_LIMIT", default: "10m", help: "a Job whose pod has not started this long after its creation is deleted and its session fails" },
  "node-lost-limit": { type: "string", env: "BLOBSTASH_NODE_LOST_LIMIT", default: "1m", help: "a running Job whose node has not been Ready this long is deleted and its session fails with NodeLost" },
} as const;

export class OptionsError extends Error {}

export function usage(): string {
  return Object.entries(FLAGS)
    .map(([name, f]) => `  --${name.padEnd(26)} ${f.help}${"default" in f ? ` (default ${JSON.stringify(f.default)})` : ""} [env ${f.env}]`)
    .join("\n");
}

/** Flags win over environment variables, which win over defaults. Throws OptionsError with the flag named. */
export function parseOperatorOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorOptions {
  const { values } = parseArgs({
    args: argv,
    options: Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: "string" as const }])),
    strict: true,
  });
  const get = (name: keyof typeof FLAGS): string | undefined => {
    const f = FLAGS[name];
    const v = values[name];
    if (typeof v === "string") return v;
    const e = env[f.env];
    if (e !== undefined && e !== "") return e;
    return "default" in f ? f.default : undefined;
  };
  const duration = (name: keyof typeof FLAGS): number => {
    const text = get(name) ?? "";
    const ms = parseDuration(text);
    if (ms === undefined) throw new OptionsError(`--${name}: "${text}" is not a duration (e.g. 60s, 5m, 1h30m)`);
    return ms;
  };
  const bool = (name: keyof typeof FLAGS): boolean => {
    const text = (get(name) ?? "").toLowerCase();
    if (["true", "1", "yes"].includes(text)) return true;
    if (["false", "0", "no"].includes(text)) return false;
    throw new OptionsError(`--${name}: "${text}" is not true or false`);
  };
  const leaseDurationMs = duration("leader-elect-lease-duration");
  const renewDeadlineMs = duration("leader-elect-renew-deadline");
  const retryPeriodMs = duration("leader-elect-retry-period");
  if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > retryPeriodMs && retryPeriodMs > 0)) {
    throw new OptionsError("--leader-elect-lease-duration must be longer than --leader-elect-renew-deadline, which must be longer than --leader-elect-retry-period (as in client-go)");
  }
  const snapshotMaxPerNamespace = Number(get("snapshot-max-per-namespace"));
  if (!Number.isInteger(snapshotMaxPerNamespace) || snapshotMaxPerNamespace < 1) throw new OptionsError(`--snapshot-max-per-namespace: "${get("snapshot-max-per-namespace")}" must be a whole number ≥ 1`);
  const concurrency = Number(get("concurrency"));
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new OptionsError(`--concurrency: "${get("concurrency")}" must be a whole number ≥ 1`);
  return {
    kubeconfig: get("kubeconfig"),
    metricsAddress: get("metrics-address") ?? ":8080",
    revalidatePeriodMs: duration("revalidate-period"),
    snapshotSyncPeriodMs: get("snapshot-sync-period") === "0" ? 0 : duration("snapshot-sync-period"),
    snapshotMaxPerNamespace,
    sasWarnBeforeMs: duration("sas-warn-before"),
    azurePolicy: azurePolicy(get),
    logLevel: get("log-level") ?? "info",
    concurrency,
    leaderElect: bool("leader-elect"),
    leaderElectionNamespace: get("leader-election-namespace") ?? "blobstash-system",
    leaderElectionId: get("leader-election-id") ?? "blobstash-operator",
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    // A restarted container keeps its pod's name but must not inherit the Lease its killed process
    // held: it is a new candidate, as client-go's name_uuid identities are.
    identity: `${get("identity") ?? hostname()}_${randomBytes(4).toString("hex")}`,
    watchNamespaces: (get("watch-namespaces") ?? "").split(",").map((s) => s.trim()).filter(Boolean),
    jobImage: get("job-image") ?? "",
    extraCaFile: get("extra-ca-file"),
    defaultJobTimeOut: (duration("default-job-timeout"), get("default-job-timeout") ?? "6h"),
    jobCredentialSlackMs: duration("job-credential-slack"),
    repositoryWaitLimitMs: duration("repository-wait-limit"),
    minScheduleIntervalMs: duration("min-schedule-interval"),
    podStartLimitMs: duration("pod-start-limit"),
    nodeLostLimitMs: duration("node-lost-limit"),
  };
}

/** The admin's Azure rules from their flags: each suffix a host name, the identity one the SDK has by that name. */
function azurePolicy(get: (name: keyof typeof FLAGS) => string | undefined): AzureAdminPolicy {
  const defaultEndpointSuffix = get("default-endpoint-suffix") ?? "core.windows.net";
  const extraEndpointSuffixes = (get("allowed-endpoint-suffixes") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const suffix of [defaultEndpointSuffix, ...extraEndpointSuffixes]) {
    const problem = endpointSuffixProblem(suffix);
    if (problem) throw new OptionsError(`endpoint suffix "${suffix}" ${problem}`);
  }
  const type = get("operator-identity") ?? "none";
  if (type !== "none" && type !== "workloadIdentity" && type !== "managedIdentity") throw new OptionsError(`--operator-identity: "${type}" is not none, workloadIdentity or managedIdentity`);
  const grants = parseIdentityGrants(get("operator-identity-grants") ?? "[]");
  if (!grants.ok) throw new OptionsError(`--operator-identity-grants: ${grants.error}`);
  const clientId = get("operator-identity-client-id");
  if (clientId && type !== "managedIdentity") throw new OptionsError("--operator-identity-client-id is for --operator-identity=managedIdentity");
  const operatorIdentity: OperatorIdentity | undefined = type === "none" ? undefined : { type, ...(clientId ? { clientId } : {}), grants: grants.grants };
  return adminPolicy({ defaultEndpointSuffix, extraEndpointSuffixes, ...(operatorIdentity ? { operatorIdentity } : {}) });
}

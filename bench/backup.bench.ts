// `node bench/backup.bench.ts`: what the operator's path costs over bare restic. One run, one fresh
// local cluster (real API server, job controller, node agent, Azurite over TLS): a tree of
// BENCH_SIZE_MB (default 1024) MiB of incompressible data, three quarters in large files and a
// quarter in small ones, is backed up and restored
//   bare: restic init + backup, then restore, run directly against the emulator (fresh prefix);
//   full: BackupSession -> Job -> `blobstash backup` -> status Succeeded, then RestoreSession -> ...
//         -> Succeeded (another fresh prefix), timed from creating the session to seeing Succeeded.
// Both restores are checked byte for byte against the source. Target: full <= 1.05 x bare + 2 s.
// Exits 1 when a target is missed, 2 when the benchmark could not run. BENCH_KEEP=1 keeps the state dir.

import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { execa } from "execa";
import { parseJobResult } from "../operator/api/result.ts";
import { startCluster, type Cluster } from "../e2e/cluster/cluster.ts";
import { useClusterInThisProcess } from "../e2e/cluster/in-process.ts";
import { applyCrds, installOperatorIdentity, startOperator, type OperatorHandle } from "../e2e/cluster/operator.ts";
import { benchStateDir } from "./harness.ts";
import { EventClock } from "./watch.ts";
import { waitFor } from "../e2e/cluster/wait.ts";
import { manifest, summarize, writeRandomFile } from "../e2e/backup-restore/tree.ts";

const SIZE_MIB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const NS = "bench";
const CONTAINER = "bench";
const PASSWORD = `bench-${randomBytes(8).toString("hex")}`;
const STASH = { group: "stash.appscode.com", version: "v1beta1" };
const TARGET = { factor: 1.05, constantMs: 2_000 };

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const log = (line: string) => console.log(line);

/** Large files for three quarters of the size (64 MiB pieces, or one file when smaller), small ones (4-252 KiB) for the rest. */
async function writeTree(root: string, mib: number): Promise<void> {
  const large = Math.round(mib * 0.75);
  for (let done = 0, i = 0; done < large; i++) {
    const piece = Math.min(64, large - done);
    await writeRandomFile(path.join(root, "large", `part-${i}.bin`), piece << 20);
    done += piece;
  }
  let bytes = (mib - large) << 20;
  for (let i = 0; bytes > 0; i++) {
    const size = Math.min(bytes, (4 + (i % 63) * 4) << 10);
    await writeRandomFile(path.join(root, "small", `d${i % 32}`, `f${i}.bin`), size);
    bytes -= size;
  }
}

interface Timed {
  ms: number;
}

async function timed(fn: () => Promise<void>): Promise<Timed> {
  // Each measurement starts with nothing left to write back from the step before (1 GiB of dirty
  // pages being flushed would slow whichever side runs second).
  await execa("sync");
  const t0 = performance.now();
  await fn();
  return { ms: performance.now() - t0 };
}

async function run(cluster: Cluster, dir: string): Promise<number> {
  useClusterInThisProcess(cluster);
  const az = cluster.azurite;
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  await applyCrds(cluster);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  const blob = new BlobServiceClient(`https://${az.account}.blob.${az.endpointSuffix}`, new StorageSharedKeyCredential(az.account, az.key));
  await blob.getContainerClient(CONTAINER).createIfNotExists();
  const op: OperatorHandle = await startOperator(cluster, {
    name: "operator-bench",
    kubeconfig: await installOperatorIdentity(cluster),
    args: ["--leader-elect=false", `--watch-namespaces=${NS}`],
  });
  log(`operator ready (log ${op.logFile})`);
  const trace = await startTrace(kc, core, batch, custom);

  const pvc = async (name: string) => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: { metadata: { name }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "2Gi" } } } } });
    const d = path.join(cluster.pvcRoot, NS, name);
    await mkdir(d, { recursive: true });
    return d;
  };
  const source = await pvc("data");
  let t = performance.now();
  await writeTree(source, SIZE_MIB);
  const want = await manifest(source);
  const counts = summarize(want);
  log(`tree: ${counts.files} files, ${(counts.bytes / 2 ** 20).toFixed(0)} MiB, incompressible (written and hashed in ${secs(performance.now() - t)})`);

  // Bare restic: what a user would run by hand, with the same connections and, for the backup and
  // for the restore, a cold cache of its own like a Job's emptyDir.
  const bareRepo = `azure:${CONTAINER}:/bare`;
  const restic = (args: string[], cwd?: string) =>
    execa("restic", ["-r", bareRepo, "-o", "azure.connections=5", "--cache-dir", path.join(dir, `bare-cache-${args[0]}`), ...args], {
      cwd,
      env: { AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key, AZURE_ENDPOINT_SUFFIX: az.endpointSuffix, RESTIC_PASSWORD: PASSWORD },
    });
  const bareBackup = await timed(async () => {
    await restic(["init"]);
    await restic(["backup", "--host", "host-0", "."], source);
  });
  log(`bare restic backup (init + backup):   ${secs(bareBackup.ms)}`);

  // The full path: Secret, Repository, BackupConfiguration, then the timed BackupSession.
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: "azure-secret" }, stringData: { RESTIC_PASSWORD: PASSWORD, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key } } });
  await custom.createNamespacedCustomObject({
    group: "stash.appscode.com", version: "v1alpha1", plural: "repositories", namespace: NS,
    body: { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", metadata: { name: "full" }, spec: { backend: { storageSecretName: "azure-secret", azure: { container: CONTAINER, prefix: "/full" } } } },
  });
  await waitFor("Repository bench/full Ready", async () => {
    const r = (await custom.getNamespacedCustomObject({ group: "stash.appscode.com", version: "v1alpha1", plural: "repositories", namespace: NS, name: "full" })) as { status?: { conditions?: Array<{ type: string; status: string }> } };
    return r.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  }, { timeoutMs: 60_000, intervalMs: 200 });
  await custom.createNamespacedCustomObject({
    ...STASH, plural: "backupconfigurations", namespace: NS,
    body: { apiVersion: "stash.appscode.com/v1beta1", kind: "BackupConfiguration", metadata: { name: "data" }, spec: { repository: { name: "full" }, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" } } } },
  });

  const fullBackup = await fullRun(trace, "backupsessions", "backup", "backup-backup", () =>
    custom.createNamespacedCustomObject({
      ...STASH, plural: "backupsessions", namespace: NS,
      body: { apiVersion: "stash.appscode.com/v1beta1", kind: "BackupSession", metadata: { name: "backup" }, spec: { invoker: { apiGroup: "stash.appscode.com", kind: "BackupConfiguration", name: "data" } } },
    }),
  );
  log(`full path backup (session -> Succeeded): ${secs(fullBackup.ms)}`);
  log(fullBackup.timeline);

  const bareTarget = path.join(dir, "bare-restore");
  const bareRestore = await timed(async () => {
    await restic(["restore", "latest", "--target", bareTarget]);
  });
  log(`bare restic restore:                   ${secs(bareRestore.ms)}`);

  const restored = await pvc("restored");
  const fullRestore = await fullRun(trace, "restoresessions", "restore", "restore-restore", () =>
    custom.createNamespacedCustomObject({
      ...STASH, plural: "restoresessions", namespace: NS,
      body: { apiVersion: "stash.appscode.com/v1beta1", kind: "RestoreSession", metadata: { name: "restore" }, spec: { repository: { name: "full" }, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "restored" }, rules: [{ snapshots: ["latest"] }] } } },
    }),
  );
  log(`full path restore (session -> Succeeded): ${secs(fullRestore.ms)}`);
  log(fullRestore.timeline);

  t = performance.now();
  for (const [name, d] of [["bare", bareTarget], ["full", restored]] as const) {
    if (!isDeepStrictEqual(await manifest(d), want)) throw new Error(`the ${name} restore differs from the source (${d})`);
  }
  log(`both restores are byte-identical to the source (checked in ${secs(performance.now() - t)})`);
  await op.stop();
  await trace.stop();

  log(`\n== backup and restore of ${SIZE_MIB} MiB: full path vs bare restic (target: full <= ${TARGET.factor} x bare + ${TARGET.constantMs / 1000} s) ==`);
  let pass = true;
  for (const [what, bare, full] of [["backup", bareBackup, fullBackup], ["restore", bareRestore, fullRestore]] as const) {
    const limit = TARGET.factor * bare.ms + TARGET.constantMs;
    const ok = full.ms <= limit;
    pass &&= ok;
    log(`   ${what.padEnd(8)} bare ${secs(bare.ms).padStart(8)}   full ${secs(full.ms).padStart(8)}   ratio ${(full.ms / bare.ms).toFixed(3)}   overhead ${secs(full.ms - bare.ms).padStart(7)}   limit ${secs(limit).padStart(8)}   ${ok ? "PASS" : "FAIL"}`);
  }
  return pass ? 0 : 1;
}

interface SessionObject extends KubernetesObject {
  status?: { phase?: string };
}

/** Watches of the benchmark's namespace: each event is stamped the moment it arrives, like `kubectl get -w`. */
interface Trace {
  jobs: EventClock<V1Job>;
  pods: EventClock<V1Pod>;
  sessions: Record<"backupsessions" | "restoresessions", EventClock<SessionObject>>;
  stop(): Promise<void>;
}

async function startTrace(kc: KubeConfig, core: CoreV1Api, batch: BatchV1Api, custom: CustomObjectsApi): Promise<Trace> {
  const sessions = (plural: string) =>
    new EventClock<SessionObject>(kc, `/apis/${STASH.group}/${STASH.version}/namespaces/${NS}/${plural}`, () =>
      custom.listNamespacedCustomObject({ ...STASH, plural, namespace: NS }) as Promise<KubernetesListObject<SessionObject>>,
    );
  const trace: Trace = {
    jobs: new EventClock<V1Job>(kc, `/apis/batch/v1/namespaces/${NS}/jobs`, () => batch.listNamespacedJob({ namespace: NS })),
    pods: new EventClock<V1Pod>(kc, `/api/v1/namespaces/${NS}/pods`, () => core.listNamespacedPod({ namespace: NS })),
    sessions: { backupsessions: sessions("backupsessions"), restoresessions: sessions("restoresessions") },
    async stop() {
      await Promise.all([trace.jobs.stop(), trace.pods.stop(), trace.sessions.backupsessions.stop(), trace.sessions.restoresessions.stop()]);
    },
  };
  await Promise.all([trace.jobs.start(), trace.pods.start(), trace.sessions.backupsessions.start(), trace.sessions.restoresessions.start()]);
  return trace;
}

const finishedJob = (j: V1Job) => !!j.status?.conditions?.some((c) => ["Complete", "SuccessCriteriaMet", "Failed", "FailureTarget"].includes(c.type) && c.status === "True");

/**
 * One full-path run, timed from creating the session to the watch event that shows it finished,
 * with where the time went: what the API server reported about the Job, its pod and the session,
 * and the wrapper's own start and end (from its result, in wall-clock milliseconds).
 */
async function fullRun(trace: Trace, plural: "backupsessions" | "restoresessions", name: string, jobName: string, create: () => Promise<unknown>): Promise<Timed & { timeline: string }> {
  const marks = new Map<string, number>();
  const mark = (what: string, at: number) => {
    if (!marks.has(what)) marks.set(what, at);
  };
  const offJobs = trace.jobs.onEvent((j, at) => {
    if (j.metadata?.name !== jobName) return;
    mark("Job created", at);
    if (finishedJob(j)) mark("Job finished", at);
  });
  let result: string | undefined;
  const offPods = trace.pods.onEvent((p, at) => {
    if (p.metadata?.labels?.["batch.kubernetes.io/job-name"] !== jobName) return;
    mark("pod created", at);
    if (p.spec?.nodeName) mark("pod bound", at);
    const state = p.status?.containerStatuses?.[0]?.state;
    if (state?.running || state?.terminated) mark("container running", at);
    if (state?.terminated) {
      mark("container exited", at);
      result ??= state.terminated.message;
    }
  });
  const offSession = trace.sessions[plural].onEvent((s, at) => {
    if (s.metadata?.name === name && s.status?.phase === "Running") mark("session Running", at);
  });
  await execa("sync");
  const done = trace.sessions[plural].next((s) => s.metadata?.name === name && (s.status?.phase === "Succeeded" || s.status?.phase === "Failed"), 60 * 60_000, `${plural} ${name} to finish`);
  const t0 = performance.now();
  try {
    await create();
    const seen = await done;
    if (seen.obj.status?.phase !== "Succeeded") throw new Error(`${plural} ${name} ended ${seen.obj.status?.phase}`);
    mark(`session ${seen.obj.status.phase}`, seen.at);
    const parsed = parseJobResult(result);
    if (parsed.ok) {
      // Wall-clock times from another process on this host, on this process's performance.now() scale.
      mark("wrapper started", Date.parse(parsed.result.startTime) - performance.timeOrigin);
      mark("wrapper finished", Date.parse(parsed.result.endTime) - performance.timeOrigin);
    }
    const steps = [...marks].sort((a, b) => a[1] - b[1]);
    let prev = t0;
    const lines = steps.map(([what, at]) => {
      const line = `     ${`+${((at - t0) / 1000).toFixed(3)}`.padStart(8)} s  ${`(${((at - prev) / 1000).toFixed(3)})`.padStart(9)}  ${what}`;
      prev = at;
      return line;
    });
    return { ms: seen.at - t0, timeline: lines.join("\n") };
  } finally {
    offJobs();
    offPods();
    offSession();
  }
}

async function main(): Promise<number> {
  if (!Number.isFinite(SIZE_MIB) || SIZE_MIB < 1) throw new Error(`BENCH_SIZE_MB must be a number of MiB >= 1, not ${process.env.BENCH_SIZE_MB}`);
  const dir = await benchStateDir("backup");
  const t0 = Date.now();
  const cluster = await startCluster({ dir, dieWithParent: true });
  log(`cluster up in ${secs(Date.now() - t0)} (${dir})`);
  let code = 2;
  try {
    code = await run(cluster, dir);
  } finally {
    await cluster.stop();
    const keep = code !== 0 || !!process.env.BENCH_KEEP;
    if (keep) log(`state and logs kept in ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`bench backup could not run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(2);
  },
);

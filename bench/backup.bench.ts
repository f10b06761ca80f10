// `node bench/backup.bench.ts`: what the operator's path costs over bare restic. One fresh local
// cluster (real API server, scheduler, job controller, two kubelet+containerd nodes, Azurite over
// TLS behind the proxy): a tree of BENCH_SIZE_MB (default 1024) MiB of incompressible data, three
// quarters in large files and a quarter in small ones, written into a PVC by a toolbox pod, is
// backed up and restored
//   bare: a pod of the project's image on the same node running restic init + backup, then one
//         running restic restore (fresh prefix), timed from creating the pod to seeing it Succeeded;
//   full: BackupSession -> Job -> `blobstash backup` -> status Succeeded, then RestoreSession -> ...
//         -> Succeeded (another fresh prefix), timed from creating the session to seeing Succeeded.
// So the ratio measures what blobstash adds to restic in a pod. Both restores are checked byte for
// byte against the source (through toolbox pods). BENCH_ROUNDS (default 3) rounds, each
// with fresh prefixes, alternating which side goes first; bare restic alone varies by a second or
// more from run to run, so the target (full <= 1.05 x bare + 2 s) is judged on the median round.
// Exits 1 when a target is missed, 2 when the benchmark could not run. BENCH_KEEP=1 keeps the state dir.

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { rm } from "node:fs/promises";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { BatchV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Job, type V1Pod } from "@kubernetes/client-node";
import { execa } from "execa";
import { parseJobResult } from "../operator/api/result.ts";
import { startCluster, type Cluster } from "../e2e/cluster/cluster.ts";
import { useClusterInThisProcess } from "../e2e/cluster/in-process.ts";
import { applyCrds, installOperator } from "../e2e/cluster/operator.ts";
import { benchStateDir } from "./harness.ts";
import { EventClock } from "./watch.ts";
import { waitFor } from "../e2e/cluster/wait.ts";
import { summarize } from "../e2e/backup-restore/tree.ts";
import { DATA, readTree, writeTree } from "../e2e/support/toolbox.ts";
import { diffTrees, type SpecEntry } from "../e2e/support/tree.ts";

const SIZE_MIB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const NS = "bench";
const CONTAINER = "bench";
const PASSWORD = `bench-${randomBytes(8).toString("hex")}`;
const STASH = { group: "stash.appscode.com", version: "v1beta1" };
const TARGET = { factor: 1.05, constantMs: 2_000 };
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const log = (line: string) => console.log(line);

/** The node every pod of the benchmark runs on, so both sides share one kubelet, containerd and disk. */
const NODE = "blobstash-node-1";

/** Large files for three quarters of the size (64 MiB pieces, or one file when smaller), small ones (4-252 KiB) for the rest. */
function benchTree(mib: number): SpecEntry[] {
  const spec: SpecEntry[] = [];
  const large = Math.round(mib * 0.75);
  for (let done = 0, i = 0; done < large; i++) {
    const piece = Math.min(64, large - done);
    spec.push({ path: `large/part-${i}.bin`, type: "file", randomBytes: piece << 20 });
    done += piece;
  }
  let bytes = (mib - large) << 20;
  for (let i = 0; bytes > 0; i++) {
    const size = Math.min(bytes, (4 + (i % 63) * 4) << 10);
    spec.push({ path: `small/d${i % 32}/f${i}.bin`, type: "file", randomBytes: size });
    bytes -= size;
  }
  return spec;
}

interface Timed {
  ms: number;
}

async function run(cluster: Cluster): Promise<number> {
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
  const op = await installOperator(cluster, { release: "bench", namespace: "bench-operator", values: { replicaCount: 1, watchNamespaces: [NS] } });
  log(`operator ready (${cluster.images.blobstash}, pod ${(await op.pods()).join(", ")})`);
  const trace = await startTrace(kc, core, batch, custom);

  const pvc = async (name: string) => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: NS, body: { metadata: { name }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "2Gi" } } } } });
    await waitFor(`PVC ${name} bound`, async () => (await core.readNamespacedPersistentVolumeClaim({ namespace: NS, name })).status?.phase === "Bound", { timeoutMs: 60_000, intervalMs: 100 });
    return name;
  };
  const source = await pvc("data");
  let t = performance.now();
  await writeTree(core, NS, source, benchTree(SIZE_MIB));
  const want = await readTree(core, NS, source);
  const counts = summarize(want);
  log(`tree: ${counts.files} files, ${(counts.bytes / 2 ** 20).toFixed(0)} MiB, incompressible (written and hashed in ${secs(performance.now() - t)})`);

  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: "azure-secret" }, stringData: { RESTIC_PASSWORD: PASSWORD, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key } } });
  // What a user running restic in a pod by hand would give it: the account key, the proxy and the CA.
  await core.createNamespacedSecret({ namespace: NS, body: { metadata: { name: "bare-restic" }, stringData: {
    RESTIC_PASSWORD: PASSWORD, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key, AZURE_ENDPOINT_SUFFIX: az.endpointSuffix,
    HTTPS_PROXY: cluster.podProxyUrl, "ca.crt": readFileSync(az.caFile, "utf8"),
  } } });
  const results: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Alternate which side goes first: a warm emulator or page cache must not favour one side.
    const bareFirst = r % 2 === 0;
    log(`\n-- round ${r + 1} of ${ROUNDS} (${bareFirst ? "bare" : "full"} first) --`);
    const bare = await bareSide(cluster, core, trace, pvc, source, r);
    const full = await fullSide(core, custom, trace, pvc, r);
    const backup = await inOrder(bareFirst, bare.backup, full.backup);
    const restore = await inOrder(bareFirst, bare.restore, full.restore);
    t = performance.now();
    for (const [name, claim, sub] of [["bare", bare.target, "restored"], ["full", full.target, ""]] as const) {
      const problems = diffTrees(want, await readTree(core, NS, claim, sub));
      if (problems.length > 0) throw new Error(`round ${r + 1}: the ${name} restore differs from the source (${claim}): ${problems.slice(0, 5).join("; ")}`);
      await core.deleteNamespacedPersistentVolumeClaim({ namespace: NS, name: claim });
    }
    log(`both restores are byte-identical to the source (checked in ${secs(performance.now() - t)})`);
    results.push({ backup, restore });
  }
  await op.stop();
  await trace.stop();

  log(`\n== backup and restore of ${SIZE_MIB} MiB: full path vs bare restic, ${ROUNDS} round(s) (target: full <= ${TARGET.factor} x bare + ${TARGET.constantMs / 1000} s) ==`);
  let pass = true;
  for (const what of ["backup", "restore"] as const) {
    // Each round pairs the two sides under the same conditions; the verdict is the median round's.
    const slack = results.map((res) => TARGET.factor * res[what].bare + TARGET.constantMs - res[what].full);
    results.forEach((res, i) => {
      const limit = TARGET.factor * res[what].bare + TARGET.constantMs;
      log(`   round ${i + 1} ${what.padEnd(8)} bare ${secs(res[what].bare).padStart(8)}   full ${secs(res[what].full).padStart(8)}   ratio ${(res[what].full / res[what].bare).toFixed(3)}   overhead ${secs(res[what].full - res[what].bare).padStart(7)}   limit ${secs(limit).padStart(8)}   ${slack[i]! >= 0 ? "pass" : "over"}`);
    });
    const ok = median(slack) >= 0;
    pass &&= ok;
    log(`   median  ${what.padEnd(8)} bare ${secs(median(results.map((res) => res[what].bare))).padStart(8)}   full ${secs(median(results.map((res) => res[what].full))).padStart(8)}   overhead ${secs(median(results.map((res) => res[what].full - res[what].bare))).padStart(7)}   room left ${secs(median(slack)).padStart(7)}   ${ok ? "PASS" : "FAIL"}`);
  }
  return pass ? 0 : 1;
}

interface Round {
  backup: { bare: number; full: number };
  restore: { bare: number; full: number };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

async function inOrder(bareFirst: boolean, bare: () => Promise<number>, full: () => Promise<number>): Promise<{ bare: number; full: number }> {
  if (bareFirst) {
    const b = await bare();
    return { bare: b, full: await full() };
  }
  const f = await full();
  return { full: f, bare: await bare() };
}

/**
 * Bare restic: what a user would run by hand in a pod of the same image on the same node, with the
 * same connections and a cold cache of its own (an emptyDir, like a Job's), on a fresh prefix each
 * round; timed from creating the pod to seeing it Succeeded.
 */
async function bareSide(cluster: Cluster, core: CoreV1Api, trace: Trace, pvc: (name: string) => Promise<string>, source: string, round: number) {
  const target = await pvc(`bare-restored-${round}`);
  const restic = `restic -r azure:${CONTAINER}:/bare-${round} -o azure.connections=5 --cache-dir /scratch/cache --cacert /ca/ca.crt`;
  const pod = (name: string, claim: string, script: string): V1Pod => ({
    metadata: { name, namespace: NS, labels: { bench: "bare" } },
    spec: {
      restartPolicy: "Never",
      nodeSelector: { "kubernetes.io/hostname": NODE },
      automountServiceAccountToken: false,
      containers: [{
        name: "restic",
        image: cluster.images.blobstash,
        imagePullPolicy: "Never",
        command: ["bash", "-c", script],
        envFrom: [{ secretRef: { name: "bare-restic" } }],
        env: [{ name: "HOME", value: "/scratch" }, { name: "TMPDIR", value: "/scratch" }],
        securityContext: { runAsUser: 0, readOnlyRootFilesystem: true },
        volumeMounts: [{ name: "data", mountPath: DATA }, { name: "scratch", mountPath: "/scratch" }, { name: "ca", mountPath: "/ca", readOnly: true }],
      }],
      volumes: [
        { name: "data", persistentVolumeClaim: { claimName: claim } },
        { name: "scratch", emptyDir: {} },
        { name: "ca", secret: { secretName: "bare-restic", items: [{ key: "ca.crt", path: "ca.crt" }] } },
      ],
    },
  });
  const runPod = async (what: string, body: V1Pod) => {
    const name = body.metadata!.name!;
    await execa("sync");
    const done = trace.pods.next((p) => p.metadata?.name === name && (p.status?.phase === "Succeeded" || p.status?.phase === "Failed"), 60 * 60_000, `pod ${name} to finish`);
    const t0 = performance.now();
    await core.createNamespacedPod({ namespace: NS, body });
    const seen = await done;
    if (seen.obj.status?.phase !== "Succeeded") throw new Error(`${what} pod ${name} ended ${seen.obj.status?.phase}: ${await core.readNamespacedPodLog({ namespace: NS, name })}`);
    const ms = seen.at - t0;
    log(`bare restic ${what.padEnd(26)} ${secs(ms)}`);
    return ms;
  };
  return {
    target,
    backup: () => runPod("backup (init + backup):", pod(`bare-backup-${round}`, source, `set -e; ${restic} init; cd ${DATA}; ${restic} backup --host host-0 .`)),
    restore: () => runPod("restore:", pod(`bare-restore-${round}`, target, `set -e; ${restic} restore latest --target ${DATA}/restored`)),
  };
}

/** The full path with a Repository of its own (a fresh prefix, so its first backup runs init too). */
async function fullSide(core: CoreV1Api, custom: CustomObjectsApi, trace: Trace, pvc: (name: string) => Promise<string>, round: number) {
  const onTheNode = { pod: { nodeSelector: { "kubernetes.io/hostname": NODE } } };
  const repo = `full-${round}`;
  await custom.createNamespacedCustomObject({
    group: "stash.appscode.com", version: "v1alpha1", plural: "repositories", namespace: NS,
    body: { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", metadata: { name: repo }, spec: { backend: { storageSecretName: "azure-secret", azure: { container: CONTAINER, prefix: `/${repo}` } } } },
  });
  await waitFor(`Repository ${NS}/${repo} Ready`, async () => {
    const r = (await custom.getNamespacedCustomObject({ group: "stash.appscode.com", version: "v1alpha1", plural: "repositories", namespace: NS, name: repo })) as { status?: { conditions?: Array<{ type: string; status: string }> } };
    return r.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
  }, { timeoutMs: 60_000, intervalMs: 200 });
  await custom.createNamespacedCustomObject({
    ...STASH, plural: "backupconfigurations", namespace: NS,
    body: { apiVersion: "stash.appscode.com/v1beta1", kind: "BackupConfiguration", metadata: { name: `data-${round}` }, spec: { repository: { name: repo }, runtimeSettings: onTheNode, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "data" } } } },
  });
  const target = await pvc(`restored-${round}`);
  return {
    target,
    backup: async () => {
      const r = await fullRun(trace, "backupsessions", `backup-${round}`, `backup-${round}-backup`, () =>
        custom.createNamespacedCustomObject({
          ...STASH, plural: "backupsessions", namespace: NS,
          body: { apiVersion: "stash.appscode.com/v1beta1", kind: "BackupSession", metadata: { name: `backup-${round}` }, spec: { invoker: { apiGroup: "stash.appscode.com", kind: "BackupConfiguration", name: `data-${round}` } } },
        }),
      );
      log(`full path backup (session -> Succeeded): ${secs(r.ms)}`);
      log(r.timeline);
      return r.ms;
    },
    restore: async () => {
      const r = await fullRun(trace, "restoresessions", `restore-${round}`, `restore-${round}-restore`, () =>
        custom.createNamespacedCustomObject({
          ...STASH, plural: "restoresessions", namespace: NS,
          body: { apiVersion: "stash.appscode.com/v1beta1", kind: "RestoreSession", metadata: { name: `restore-${round}` }, spec: { repository: { name: repo }, runtimeSettings: onTheNode, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: `restored-${round}` }, rules: [{ snapshots: ["latest"] }] } } },
        }),
      );
      log(`full path restore (session -> Succeeded): ${secs(r.ms)}`);
      log(r.timeline);
      return r.ms;
    },
  };
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
  if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`BENCH_ROUNDS must be a whole number >= 1, not ${process.env.BENCH_ROUNDS}`);
  const dir = await benchStateDir("backup");
  const t0 = Date.now();
  const cluster = await startCluster({ dir, dieWithParent: true });
  log(`cluster up in ${secs(Date.now() - t0)} (${dir})`);
  let code = 2;
  try {
    code = await run(cluster);
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

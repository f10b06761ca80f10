// A benchmark's own world: a fresh local cluster in a temp dir (real nodes), the CRDs, the operator
// installed by Helm as a pod of the project's image, and clean-up of all of it at the end, also when
// the benchmark fails or is interrupted.

import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { loadPooledKubeConfig } from "./pooled-kubeconfig.ts";
import { startCluster, teardownNow, type Cluster } from "../e2e/cluster/cluster.ts";
import { useClusterInThisProcess } from "../e2e/cluster/in-process.ts";
import { containerPid } from "../e2e/cluster/node.ts";
import { nodeLayout } from "../e2e/cluster/node-config.ts";
import { applyCrds, installOperator } from "../e2e/cluster/operator.ts";

export const REPOSITORY = { group: "stash.appscode.com", version: "v1alpha1", plural: "repositories" };

/** The operator as a benchmark measures it: its one pod's process on the node, its log and its /metrics. */
export interface BenchOperator {
  /** The operator container's process, as the host sees it (for RSS and CPU). */
  pid: number;
  /** Where it runs, and where its leader-election Lease is. */
  namespace: string;
  /** What the container logged so far, read from its node's /var/log/pods. */
  log(): string;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

export interface Bench {
  cluster: Cluster;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  blob: BlobServiceClient;
  /** How the operator runs. */
  operatorBuild: string;
  /** Installs the operator (one replica, extra flags appended) with Helm and waits until it is ready. */
  startOperator(args?: string[]): Promise<BenchOperator>;
  /** The Secret keys of a valid account-key Secret for the emulator. */
  accountKeySecret(password: string): Record<string, string>;
}

const elapsed = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/**
 * Runs `body` against a fresh cluster and returns its exit code. The state dir is removed after a
 * run that returned 0 and kept (logs) otherwise or when BENCH_KEEP=1.
 */
export async function runBench(name: string, body: (bench: Bench) => Promise<number>): Promise<number> {
  const dir = await benchStateDir(name);
  const t0 = Date.now();
  const cluster = await startCluster({ dir, dieWithParent: true });
  let code = 1;
  try {
    useClusterInThisProcess(cluster);
    await applyCrds(cluster);
    console.log(`cluster (2 nodes), CRDs and images ready in ${elapsed(t0)} (${dir})`);
    // Pooled connections, as the operator has them: the baselines then measure the API server, not handshakes.
    const kc = loadPooledKubeConfig(cluster.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const az = cluster.azurite;
    let operators = 0;
    code = await body({
      cluster,
      kc,
      core,
      custom: kc.makeApiClient(CustomObjectsApi),
      blob: new BlobServiceClient(`https://${az.account}.blob.${az.endpointSuffix}`, new StorageSharedKeyCredential(az.account, az.key)),
      operatorBuild: `the project's image ${cluster.images.blobstash} (compiled JavaScript), installed by Helm`,
      startOperator: (args = []) => benchOperator(cluster, core, ++operators, args),
      accountKeySecret: (password) => ({ RESTIC_PASSWORD: password, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key }),
    });
  } finally {
    await cluster.stop();
    if (code === 0 && !process.env.BENCH_KEEP) await rm(dir, { recursive: true, force: true });
    else console.log(`state and logs kept in ${dir}`);
  }
  return code;
}

async function benchOperator(cluster: Cluster, core: CoreV1Api, n: number, args: string[]): Promise<BenchOperator> {
  const namespace = `bench-operator-${n}`;
  const op = await installOperator(cluster, {
    release: `bench-${n}`,
    namespace,
    // No memory limit: the benchmark measures what the operator needs, and a limit would hide it in an OOM kill.
    values: { replicaCount: 1, operator: { extraArgs: args }, resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: null } },
  });
  const [podName] = await op.pods();
  const pod = await core.readNamespacedPod({ namespace, name: podName! });
  const pid = await containerPid(cluster, pod.spec!.nodeName!, pod.status!.containerStatuses![0]!.containerID!);
  const logDir = path.join(nodeLayout(cluster.dir, pod.spec!.nodeName!).varLog, "pods", `${namespace}_${podName}_${pod.metadata!.uid}`, "operator");
  return {
    pid,
    namespace,
    log: () => readdirSync(logDir).sort().map((f) => readFileSync(path.join(logDir, f), "utf8")).join(""),
    metrics: () => op.metrics(),
    stop: () => op.stop(),
  };
}

/** Runs a bench as the program's main: exit code from the bench, 2 when it could not run at all. */
export function main(name: string, body: (bench: Bench) => Promise<number>): void {
  runBench(name, body).then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(`bench ${name} could not run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      process.exit(2);
    },
  );
}

export async function createNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
}

export function repositoryBody(name: string, secretName: string, container: string, prefix: string): Record<string, unknown> {
  return {
    apiVersion: "stash.appscode.com/v1alpha1",
    kind: "Repository",
    metadata: { name },
    spec: { backend: { storageSecretName: secretName, azure: { container, prefix } } },
  };
}

/** Runs `task` for every item with at most `limit` in flight. */
export async function inParallel<T>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await task(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** A fresh state dir for one benchmark's cluster; whatever runs there dies with this process. */
export async function benchStateDir(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `blobstash-bench-${name}-`));
  process.once("exit", () => teardownNow(dir));
  for (const sig of ["SIGINT", "SIGTERM"] as const) process.once(sig, () => process.exit(130));
  return dir;
}

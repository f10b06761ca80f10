// A benchmark's own world: a fresh local cluster in a temp dir (no node agent: no Job runs here),
// the CRDs, the operator as the Helm chart's ServiceAccount, and clean-up of all of it at the end,
// also when the benchmark fails or is interrupted.

import { rmSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { ApiException, CoreV1Api, CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { execa } from "execa";
import { loadPooledKubeConfig } from "./pooled-kubeconfig.ts";
import { startCluster, type Cluster } from "../e2e/cluster/cluster.ts";
import { useClusterInThisProcess } from "../e2e/cluster/in-process.ts";
import { applyCrds, installOperatorIdentity, startOperator, type OperatorHandle } from "../e2e/cluster/operator.ts";
import { killAllNow } from "../e2e/cluster/supervisor.ts";

export const REPOSITORY = { group: "stash.appscode.com", version: "v1alpha1", plural: "repositories" };

export interface Bench {
  cluster: Cluster;
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  blob: BlobServiceClient;
  operatorKubeconfig: string;
  /** How the operator runs: "compiled JavaScript (as in the image)" or "TypeScript source". */
  operatorBuild: string;
  /** Starts the operator (extra flags appended), as the chart's ServiceAccount; see operatorEnv for BENCH_* switches. */
  startOperator(args?: string[]): Promise<OperatorHandle>;
  /** The Secret keys of a valid account-key Secret for the emulator. */
  accountKeySecret(password: string): Record<string, string>;
}

const repoRoot = path.resolve(import.meta.dirname, "..");
const elapsed = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(1)} s`;

/**
 * Runs `body` against a fresh cluster and returns its exit code. The state dir is removed after a
 * run that returned 0 and kept (logs, CPU profiles) otherwise or when BENCH_KEEP=1.
 */
export async function runBench(name: string, body: (bench: Bench) => Promise<number>): Promise<number> {
  const dir = await benchStateDir(name);
  const t0 = Date.now();
  const cluster = await startCluster({ dir, dieWithParent: true, nodeAgent: false });
  let code = 1;
  try {
    useClusterInThisProcess(cluster);
    await applyCrds(cluster);
    const operatorKubeconfig = await installOperatorIdentity(cluster);
    const dist = await buildDist(dir);
    console.log(`cluster, CRDs, operator identity and compiled operator ready in ${elapsed(t0)} (${dir})`);
    // Pooled connections, as the operator has them: the baselines then measure the API server, not handshakes.
    const kc = loadPooledKubeConfig(cluster.kubeconfig);
    const az = cluster.azurite;
    let operators = 0;
    code = await body({
      cluster,
      kc,
      core: kc.makeApiClient(CoreV1Api),
      custom: kc.makeApiClient(CustomObjectsApi),
      blob: new BlobServiceClient(`https://${az.account}.blob.${az.endpointSuffix}`, new StorageSharedKeyCredential(az.account, az.key)),
      operatorKubeconfig,
      operatorBuild: dist ? "compiled JavaScript (as in the image)" : "TypeScript source (BENCH_FROM_SOURCE)",
      startOperator: (args = []) =>
        startOperator(cluster, {
          name: `operator-${++operators}`,
          kubeconfig: operatorKubeconfig,
          args,
          env: { ...operatorEnv(dir), ...(dist ? { BLOBSTASH_DIST: dist } : {}) },
        }),
      accountKeySecret: (password) => ({ RESTIC_PASSWORD: password, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key }),
    });
  } finally {
    await cluster.stop();
    if (code === 0 && !process.env.BENCH_KEEP && !process.env.BENCH_CPU_PROF) await rm(dir, { recursive: true, force: true });
    else console.log(`state, logs and profiles kept in ${dir}`);
  }
  return code;
}

/**
 * The operator as the image runs it: compiled JavaScript (dist/), not the TypeScript source that a
 * checkout runs (Node's type stripping alone holds ~20 MB more). Built fresh into the state dir's
 * sibling under .local/ (node_modules must be reachable from it), so it can never be stale.
 * BENCH_FROM_SOURCE=1 runs the source instead.
 */
async function buildDist(dir: string): Promise<string | undefined> {
  if (process.env.BENCH_FROM_SOURCE) return undefined;
  const out = path.join(repoRoot, ".local", `bench-dist-${path.basename(dir)}`);
  await execa("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", out], { cwd: repoRoot });
  process.once("exit", () => rmSync(out, { recursive: true, force: true }));
  return out;
}

/**
 * BENCH_CPU_PROF=1: V8 CPU profile on stop. BENCH_DIRECT_AZURE=1: Azurite without the CONNECT proxy.
 * BENCH_NODE_OPTIONS: extra Node/V8 flags for the operator (e.g. heap sizing). BENCH_OPERATOR_ENV:
 * extra environment for the operator, space-separated NAME=value pairs (e.g. MALLOC_ARENA_MAX=2).
 */
function operatorEnv(dir: string): Record<string, string> {
  const nodeOptions: string[] = process.env.BENCH_NODE_OPTIONS ? [process.env.BENCH_NODE_OPTIONS] : [];
  const env: Record<string, string> = {};
  for (const pair of (process.env.BENCH_OPERATOR_ENV ?? "").split(" ").filter(Boolean)) {
    const i = pair.indexOf("=");
    if (i > 0) env[pair.slice(0, i)] = pair.slice(i + 1);
  }
  if (process.env.BENCH_CPU_PROF) nodeOptions.push("--cpu-prof", `--cpu-prof-dir=${path.join(dir, "cpu-profiles")}`);
  if (process.env.BENCH_DIRECT_AZURE) {
    nodeOptions.push(`--import=${path.join(import.meta.dirname, "resolve-localhost.ts")}`);
    env.HTTPS_PROXY = "";
  }
  if (nodeOptions.length) env.NODE_OPTIONS = nodeOptions.join(" ");
  return env;
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
  process.once("exit", () => killAllNow(dir));
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      killAllNow(dir);
      process.exit(130);
    });
  }
  return dir;
}

// The operator on the local cluster, as the Helm chart would run it: CRDs from crds/, the chart's
// ServiceAccount and RBAC (rendered by helm, applied server-side), and `blobstash operator`
// authenticated with that ServiceAccount's token, so a permission the chart lacks fails here.

import { readdirSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import type { Cluster } from "./cluster.ts";
import { writeTokenKubeconfig } from "./kubeconfig.ts";
import { freePort } from "./ports.ts";
import { exitedWithLog, logTail, readRecord, startProcess, stopProcess } from "./supervisor.ts";
import { repoRoot, tool } from "./tools.ts";
import { waitFor } from "./wait.ts";

export const OPERATOR_NAMESPACE = "blobstash-system";
export const RELEASE = "blobstash";

const kubectl = (cluster: Cluster, args: string[], input?: string) =>
  execa(tool("kubectl"), args, { env: { ...process.env, KUBECONFIG: cluster.kubeconfig }, input });

/** Applies every CRD under crds/ and waits until the API server serves them. */
export async function applyCrds(cluster: Cluster): Promise<string[]> {
  const dir = path.join(repoRoot, "crds");
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml"));
  await kubectl(cluster, ["apply", "--server-side", "--force-conflicts", ...files.flatMap((f) => ["-f", path.join(dir, f)])]);
  const names = files.map((f) => f.replace(/\.yaml$/, ""));
  await kubectl(cluster, ["wait", "--for=condition=Established", "--timeout=60s", ...names.map((n) => `crd/${n}`)]);
  return names;
}

/** `helm template` of the chart with the given values flags. */
export async function renderChart(args: string[] = []): Promise<string> {
  const { stdout } = await execa(tool("helm"), ["template", RELEASE, path.join(repoRoot, "charts/blobstash"), "--namespace", OPERATOR_NAMESPACE, ...args]);
  return stdout;
}

/**
 * Applies the chart's ServiceAccount and RBAC, and writes a kubeconfig that authenticates as that
 * ServiceAccount (a TokenRequest token). Returns the kubeconfig path.
 */
export async function installOperatorIdentity(cluster: Cluster, valuesArgs: string[] = []): Promise<string> {
  await kubectl(cluster, ["create", "namespace", OPERATOR_NAMESPACE]).catch(() => undefined);
  const manifests = await renderChart(["--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml", ...valuesArgs]);
  await kubectl(cluster, ["apply", "--server-side", "--force-conflicts", "-f", "-"], manifests);
  const { stdout: token } = await kubectl(cluster, ["create", "token", RELEASE, "-n", OPERATOR_NAMESPACE, "--duration=48h"]);
  const file = path.join(cluster.dir, "operator.kubeconfig");
  await writeTokenKubeconfig(file, { server: cluster.apiServerUrl, caFile: cluster.azurite.caFile, token: token.trim(), name: "blobstash-operator" });
  return file;
}

export interface OperatorHandle {
  name: string;
  metricsUrl: string;
  logFile: string;
  pid: number;
  stop(): Promise<void>;
  /** SIGKILL: no lease release, no cleanup (a crashed operator). */
  kill(): void;
  metrics(): Promise<string>;
  log(): string;
}

/**
 * Starts `blobstash operator` from source as a supervised process (so `make down` stops it too),
 * authenticated as the chart's ServiceAccount, and waits until its caches are synced.
 */
export async function startOperator(
  cluster: Cluster,
  opts: { name?: string; kubeconfig: string; args?: string[]; dieWithParent?: boolean; env?: Record<string, string> },
): Promise<OperatorHandle> {
  const name = opts.name ?? "operator";
  const port = await freePort();
  // Through bin/blobstash, as the image runs it (its Node flags included), from source.
  const args = [
    "operator",
    `--metrics-address=127.0.0.1:${port}`,
    `--default-endpoint-suffix=${cluster.azurite.endpointSuffix}`,
    `--leader-election-namespace=${OPERATOR_NAMESPACE}`,
    "--job-image=blobstash:local",
    ...(opts.args ?? []),
  ];
  // The cluster's env minus the emulator's account key: the operator must get credentials from Secrets.
  const env: Record<string, string | undefined> = {
    ...cluster.env, AZURE_ACCOUNT_KEY: undefined, AZURE_ACCOUNT_NAME: undefined, KUBECONFIG: opts.kubeconfig, HOME: process.env.HOME,
    ...opts.env,
  };
  const record = startProcess(cluster.dir, name, path.join(repoRoot, "bin/blobstash"), args, { env, dieWithParent: opts.dieWithParent ?? true, cwd: repoRoot });
  const metricsUrl = `http://127.0.0.1:${port}`;
  await waitFor(`${name} to sync its caches`, async () => (await fetch(`${metricsUrl}/readyz`)).ok, {
    timeoutMs: 60_000,
    intervalMs: 200,
    abortIf: exitedWithLog(cluster.dir, record),
  });
  return {
    name,
    metricsUrl,
    logFile: record.logFile,
    pid: record.pid,
    stop: () => stopProcess(cluster.dir, name),
    kill: () => {
      const r = readRecord(cluster.dir, name);
      if (r) process.kill(r.pid, "SIGKILL");
    },
    metrics: async () => (await fetch(`${metricsUrl}/metrics`)).text(),
    log: () => logTail(cluster.dir, name, 100_000),
  };
}

// `blobstash operator` as a process on this machine, authenticated as the chart's ServiceAccount
// through a kubeconfig: what an admin runs to debug, and what the tests of the --kubeconfig path
// need (kubeconfig forms, a stalled API connection). Every other test uses the operator the chart
// installs (operator.ts).

import path from "node:path";
import type { Cluster } from "./cluster.ts";
import { writeTokenKubeconfig } from "./kubeconfig.ts";
import { kubectl, OPERATOR_NAMESPACE, RELEASE, renderChart } from "./operator.ts";
import { freePort } from "./ports.ts";
import { exitedWithLog, logTail, readRecord, startProcess, stopProcess } from "./supervisor.ts";
import { repoRoot } from "./tools.ts";
import { waitFor } from "./wait.ts";

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

export interface HostOperator {
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
export async function startHostOperator(
  cluster: Cluster,
  opts: { name?: string; kubeconfig: string; args?: string[]; dieWithParent?: boolean; env?: Record<string, string> },
): Promise<HostOperator> {
  const name = opts.name ?? "operator";
  const port = await freePort();
  // Through bin/blobstash, as the image runs it (its Node flags included), from source.
  const args = [
    "operator",
    `--metrics-address=127.0.0.1:${port}`,
    `--default-endpoint-suffix=${cluster.azurite.endpointSuffix}`,
    `--leader-election-namespace=${OPERATOR_NAMESPACE}`,
    `--job-image=${cluster.images.blobstash}`,
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

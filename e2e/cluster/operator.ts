// The operator on the local cluster as a cluster admin installs it: `helm upgrade --install` of
// charts/blobstash with the project's image (built here, imported into every node), the chart's
// Deployment, ServiceAccount, RBAC and metrics Service, in-cluster credentials, leader election
// between the replicas. The chart's proxy and extra-CA values carry the way to Azurite, as they would
// carry a corporate proxy's. A permission the chart lacks fails here.

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import type { Cluster } from "./cluster.ts";
import { repoRoot, tool } from "./tools.ts";
import { waitFor } from "./wait.ts";

export const OPERATOR_NAMESPACE = "blobstash-system";
export const RELEASE = "blobstash";

export const kubectl = (cluster: Cluster, args: string[], input?: string) =>
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

/** The chart's values that point a release at this cluster: its image, Azurite's endpoint, the proxy and CA pods need. */
export function localValues(cluster: Cluster): Record<string, unknown> {
  const ref = cluster.images.blobstash;
  const colon = ref.lastIndexOf(":");
  return {
    image: { repository: ref.slice(0, colon), tag: ref.slice(colon + 1), pullPolicy: "Never" },
    operator: { defaultEndpointSuffix: cluster.azurite.endpointSuffix },
    proxy: { httpsProxy: cluster.podProxyUrl },
    extraCA: { pem: readFileSync(cluster.azurite.caFile, "utf8") },
  };
}

export interface InstallOptions {
  release?: string;
  namespace?: string;
  /** Values merged over localValues (a JSON values file; objects merge, the rest replaces). */
  values?: Record<string, unknown>;
}

export interface OperatorHandle {
  release: string;
  namespace: string;
  /** The Deployment's (and the chart's) full name. */
  fullname: string;
  /** Pods of the release that run now. */
  pods(): Promise<string[]>;
  /** The pod that holds the Lease (its identity is `<pod>_<per-process suffix>`); "" while nobody does. */
  leader(): Promise<string>;
  /** /metrics of the leader, through the API server's pod proxy. */
  metrics(): Promise<string>;
  /** /metrics through the metrics Service (any replica: what a Prometheus scrape of the Service gets). */
  serviceMetrics(): Promise<string>;
  /** Every current pod's log, prefixed with the pod's name. */
  logs(): Promise<string>;
  /** Deletes every pod at once with no grace period, as a node losing them would; the Deployment makes new ones. */
  kill(): Promise<void>;
  /** Waits until the Deployment's pods are all ready (after a kill, say). */
  waitReady(): Promise<void>;
  /** helm uninstall, waiting until the pods are gone. */
  stop(): Promise<void>;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = prev && typeof prev === "object" && !Array.isArray(prev) && v && typeof v === "object" && !Array.isArray(v)
      ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
      : v;
  }
  return out;
}

/** `helm upgrade --install` of the chart into the cluster; returns once every replica is ready. */
export async function installOperator(cluster: Cluster, opts: InstallOptions = {}): Promise<OperatorHandle> {
  const release = opts.release ?? RELEASE;
  const namespace = opts.namespace ?? OPERATOR_NAMESPACE;
  const values = merge(localValues(cluster), opts.values ?? {});
  const env = { ...process.env, KUBECONFIG: cluster.kubeconfig };
  await execa(tool("helm"), [
    "upgrade", "--install", release, path.join(repoRoot, "charts/blobstash"),
    "--namespace", namespace, "--create-namespace", "--values", "-", "--wait", "--timeout", "180s",
  ], { env, input: JSON.stringify(values) });
  const fullname = release.includes("blobstash") ? release : `${release}-blobstash`;
  const k = (args: string[], input?: string) => kubectl(cluster, ["-n", namespace, ...args], input);
  const selector = `app.kubernetes.io/instance=${release}`;
  // Running and not on its way out (a rolled Deployment's old pods run on for their grace period).
  const pods = async () => {
    const { stdout } = await k(["get", "pods", "-l", selector, "--field-selector=status.phase=Running", "-o", "json"]);
    const list = JSON.parse(stdout) as { items: Array<{ metadata: { name: string; deletionTimestamp?: string } }> };
    return list.items.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.metadata.name);
  };
  const leader = async () => {
    const r = await execa(tool("kubectl"), ["-n", namespace, "get", "lease", "blobstash-operator", "-o", "jsonpath={.spec.holderIdentity}"], { env, reject: false });
    return r.exitCode === 0 ? r.stdout.trim().split("_")[0]! : "";
  };
  const handle: OperatorHandle = {
    release,
    namespace,
    fullname,
    pods,
    leader,
    metrics: async () => (await k(["get", "--raw", `/api/v1/namespaces/${namespace}/pods/${await leader()}:8080/proxy/metrics`])).stdout,
    serviceMetrics: async () => (await k(["get", "--raw", `/api/v1/namespaces/${namespace}/services/${fullname}-metrics:metrics/proxy/metrics`])).stdout,
    logs: async () => {
      const r = await execa(tool("kubectl"), ["-n", namespace, "logs", "-l", selector, "--prefix", "--tail=-1", "--max-log-requests=10"], { env, reject: false });
      return r.stdout + (r.exitCode === 0 ? "" : `\n(kubectl logs: ${r.stderr})`);
    },
    kill: async () => {
      await k(["delete", "pods", "-l", selector, "--grace-period=0", "--force", "--wait=false"]);
    },
    waitReady: async () => {
      await waitFor(`Deployment ${namespace}/${fullname} ready`, async () => {
        const { stdout } = await k(["get", "deployment", fullname, "-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}/{.status.updatedReplicas}"]);
        const [ready, want] = stdout.split("/");
        return ready !== "" && ready === want;
      }, { timeoutMs: 120_000, intervalMs: 500 });
    },
    stop: async () => {
      await execa(tool("helm"), ["uninstall", release, "--namespace", namespace, "--wait", "--timeout", "120s"], { env });
    },
  };
  return handle;
}

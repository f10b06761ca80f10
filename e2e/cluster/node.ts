// One node of the local cluster: containerd (with runc and the CNI plugins), kubelet and kube-proxy,
// as on any Kubernetes node, inside namespaces of its own so two nodes share one machine:
//  - a network namespace wired to the cluster bridge (network.ts): the node's kubelet port, its
//    nftables rules (kube-proxy) and its forwarding stay inside it;
//  - a mount namespace where /run, /var/lib and /var/log are the node's own directories (kubelet and
//    containerd keep fixed paths there: the device-plugin socket, /var/log/containers, netns mounts),
//    so whatever they mount vanishes with the node;
//  - a cgroup subtree (cgroups.ts) that holds its daemons, the runc shims and, as kubelet's
//    cgroupRoot, every pod: stopping the node kills exactly what the subtree holds.
// The namespaces are held by a `sleep` process; every daemon enters them with nsenter.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { importImage } from "../images/images.ts";
import { ensureCgroup, killSubtree, pidsIn, procsFiles, removeSubtree } from "./cgroups.ts";
import { issue, type Pki } from "./certs.ts";
import { probeGet } from "./https-probe.ts";
import { writeCertKubeconfig } from "./kubeconfig.ts";
import { attachNode, SYSTEM_PATH, type NetworkPlan, type NodeAddressing } from "./network.ts";
import {
  cniConfig,
  containerdConfig,
  hostContainerdSocket,
  kubeletConfig,
  kubeProxyConfig,
  nodeLayout,
  type NodeLayout,
} from "./node-config.ts";
import { exitedWithLog, readRecord, startProcess, stopProcess, type ProcessRecord } from "./supervisor.ts";
import { tool } from "./tools.ts";
import { waitFor } from "./wait.ts";

export interface NodeSpec {
  clusterDir: string;
  pki: Pki;
  plan: NetworkPlan;
  node: NodeAddressing;
  allNodes: NodeAddressing[];
  apiServerUrl: string;
  /** The cluster's cgroup; the node's is `<root>/<node name>`. */
  cgroupRoot: string;
  sandboxImage: string;
  /** OCI archives to import into the node's containerd before kubelet starts. */
  images: string[];
  dieWithParent?: boolean;
  log?: (line: string) => void;
}

/** Supervisor record names of a node's processes, in start order. */
export const nodeProcessNames = (name: string) => [`${name}-namespaces`, `${name}-containerd`, `${name}-kubelet`, `${name}-kube-proxy`];

export const nodeCgroup = (clusterCgroup: string, name: string) => path.posix.join(clusterCgroup, name);

function daemonEnv(): Record<string, string | undefined> {
  const dirs = ["containerd", "runc", "containerd-shim-runc-v2"].map((t) => path.dirname(tool(t)));
  return { PATH: [...new Set(dirs), SYSTEM_PATH].join(":"), HOME: process.env.HOME };
}

// Joins the node's cgroup in every hierarchy before anything else runs, so children (shims) are in it too.
const JOIN_CGROUP = 'for f in $NODE_CGROUP_PROCS; do echo $$ > "$f"; done; exec "$@"';

function startInNode(spec: NodeSpec, holderPid: number, name: string, cmd: string, args: string[]): ProcessRecord {
  return startProcess(spec.clusterDir, name, "sh", ["-c", JOIN_CGROUP, "sh", "nsenter", "--target", String(holderPid), "--mount", "--net", "--", cmd, ...args], {
    env: { ...daemonEnv(), NODE_CGROUP_PROCS: procsFiles(nodeCgroup(spec.cgroupRoot, spec.node.name)).join(" ") },
    dieWithParent: spec.dieWithParent,
  });
}

async function writeNodeFiles(spec: NodeSpec, layout: NodeLayout): Promise<void> {
  for (const d of [layout.run, path.join(layout.varLib, "kubelet"), path.join(layout.varLib, "cni"), layout.varLog, layout.containerdRoot, layout.cniConfDir]) {
    mkdirSync(d, { recursive: true });
  }
  const { node, pki } = spec;
  const kubeletClient = { cert: `${layout.dir}/kubelet-client.crt`, key: `${layout.dir}/kubelet-client.key` };
  const proxyClient = { cert: `${layout.dir}/kube-proxy.crt`, key: `${layout.dir}/kube-proxy.key` };
  await Promise.all([
    issue(pki, { ...kubeletClient, subject: `/O=system:nodes/CN=system:node:${node.name}`, usage: "clientAuth" }),
    issue(pki, { ...proxyClient, subject: "/CN=system:kube-proxy", usage: "clientAuth" }),
    issue(pki, { cert: layout.kubeletCert, key: layout.kubeletKey, subject: `/CN=${node.name}`, usage: "serverAuth", dns: [node.name], ips: [node.ip] }),
  ]);
  await writeCertKubeconfig(layout.kubeletKubeconfig, { server: spec.apiServerUrl, caFile: pki.caCert, certFile: kubeletClient.cert, keyFile: kubeletClient.key, name: node.name });
  await writeCertKubeconfig(layout.kubeProxyKubeconfig, { server: spec.apiServerUrl, caFile: pki.caCert, certFile: proxyClient.cert, keyFile: proxyClient.key, name: "kube-proxy" });
  writeFileSync(layout.containerdConfig, containerdConfig({ layout, runc: tool("runc"), cniBinDir: path.dirname(tool("bridge")), sandboxImage: spec.sandboxImage }));
  writeFileSync(path.join(layout.cniConfDir, "10-blobstash.conflist"), cniConfig(node));
  writeFileSync(layout.kubeletConfig, kubeletConfig({ layout, node, caFile: pki.caCert, cgroupRoot: nodeCgroup(spec.cgroupRoot, node.name) }));
  writeFileSync(layout.kubeProxyConfig, kubeProxyConfig({ layout, node, plan: spec.plan }));
}

/** Whether the Node object reports Ready=True. */
export async function nodeReady(apiServerUrl: string, pki: Pki, name: string): Promise<boolean> {
  const res = await probeGet(`${apiServerUrl}/api/v1/nodes/${name}`, {
    ca: readFileSync(pki.caCert), cert: readFileSync(pki.adminCert), key: readFileSync(pki.adminKey),
  });
  if (res.status !== 200) return false;
  const node = JSON.parse(res.body) as { status?: { conditions?: { type: string; status: string }[] } };
  return node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** `ctr` against a node's containerd, in the namespace the CRI uses. */
export function ctr(layout: NodeLayout, args: string[]) {
  return execa(tool("ctr"), ["--address", hostContainerdSocket(layout), "--namespace", "k8s.io", ...args]);
}

/** Imports an OCI archive into the node's containerd, unless it holds that image already. */
export async function importNodeImage(layout: NodeLayout, archive: string): Promise<void> {
  await importImage({ ctr: tool("ctr"), address: hostContainerdSocket(layout), archive });
}

/** Starts a node and waits until it is Ready with its images imported. */
export async function startNode(spec: NodeSpec): Promise<void> {
  const { node } = spec;
  const log = spec.log ?? (() => undefined);
  const layout = nodeLayout(spec.clusterDir, node.name);
  const [nsName, containerdName, kubeletName, proxyName] = nodeProcessNames(node.name);
  // Inside the cluster's cgroup, so the cluster's removal takes it along.
  ensureCgroup(nodeCgroup(spec.cgroupRoot, node.name));
  await writeNodeFiles(spec, layout);

  const mounts = [`mount --bind ${layout.run} /run`, `mount --bind ${layout.varLib} /var/lib`, `mount --bind ${layout.varLog} /var/log`];
  const holder = startProcess(spec.clusterDir, nsName!, "sh", [
    "-c", JOIN_CGROUP, "sh", "unshare", "--mount", "--net", "--propagation", "private", "--", "sh", "-c", `${mounts.join(" && ")} && exec sleep infinity`,
  ], { env: { ...daemonEnv(), NODE_CGROUP_PROCS: procsFiles(nodeCgroup(spec.cgroupRoot, node.name)).join(" ") }, dieWithParent: spec.dieWithParent });
  // The holder is ready once it runs `sleep` inside the new namespaces with the mounts in place.
  await waitFor(`${node.name}: namespaces`, () => {
    try {
      return readFileSync(`/proc/${holder.pid}/comm`, "utf8").trim() === "sleep";
    } catch {
      return false;
    }
  }, { timeoutMs: 10_000, intervalMs: 20, abortIf: exitedWithLog(spec.clusterDir, holder) });
  await attachNode(spec.plan, node, spec.allNodes, holder.pid);

  const containerd = startInNode(spec, holder.pid, containerdName!, tool("containerd"), ["--config", layout.containerdConfig]);
  await waitFor(`${node.name}: containerd`, async () => existsSync(hostContainerdSocket(layout)) && (await ctr(layout, ["version"]).then(() => true, () => false)), {
    timeoutMs: 30_000, intervalMs: 100, abortIf: exitedWithLog(spec.clusterDir, containerd),
  });
  const t = Date.now();
  for (const archive of spec.images) await importNodeImage(layout, archive);
  log(`${node.name}: ${spec.images.length} images imported (${((Date.now() - t) / 1000).toFixed(1)} s)`);

  const kubelet = startInNode(spec, holder.pid, kubeletName!, tool("kubelet"), [
    "--config", layout.kubeletConfig,
    "--kubeconfig", layout.kubeletKubeconfig,
    "--hostname-override", node.name,
    "--node-ip", node.ip,
    "-v", "1",
  ]);
  startInNode(spec, holder.pid, proxyName!, tool("kube-proxy"), ["--config", layout.kubeProxyConfig, "-v", "1"]);
  await waitFor(`Node ${node.name} Ready`, () => nodeReady(spec.apiServerUrl, spec.pki, node.name), {
    timeoutMs: 90_000, intervalMs: 250, abortIf: exitedWithLog(spec.clusterDir, kubelet),
  });
}

/**
 * Stops a node as a power cut would: every process of its cgroup subtree (daemons, shims, containers)
 * SIGKILLed at once, then its namespaces are gone with their mounts, veth and rules.
 */
export async function killNode(clusterDir: string, clusterCgroup: string, name: string): Promise<void> {
  await killSubtree(nodeCgroup(clusterCgroup, name));
  for (const p of nodeProcessNames(name)) await stopProcess(clusterDir, p);
}

/** Stops a node in order (kube-proxy, kubelet, containerd get SIGTERM first), then kills what is left and removes its state. */
export async function stopNode(clusterDir: string, clusterCgroup: string, name: string): Promise<void> {
  for (const p of [...nodeProcessNames(name)].reverse()) if (readRecord(clusterDir, p)) await stopProcess(clusterDir, p, 3000);
  await killNode(clusterDir, clusterCgroup, name);
  removeSubtree(nodeCgroup(clusterCgroup, name));
  const left = pidsIn(nodeCgroup(clusterCgroup, name));
  if (left.length > 0) throw new Error(`node ${name}: processes still in its cgroup: ${left.join(", ")}`);
  rmSync(nodeLayout(clusterDir, name).dir, { recursive: true, force: true });
}

/**
 * The host PID of a running container (`containerd://<id>` from a pod's status), as the node's
 * containerd reports it: what a node admin would inspect with `ctr task ls`.
 */
export async function containerPid(cluster: { dir: string }, nodeName: string, containerId: string): Promise<number> {
  const id = containerId.replace(/^containerd:\/\//, "");
  const { stdout } = await ctr(nodeLayout(cluster.dir, nodeName), ["tasks", "ls"]);
  const line = stdout.split("\n").find((l) => l.startsWith(id));
  const pid = Number(line?.trim().split(/\s+/)[1]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`container ${id} has no running task on ${nodeName}:\n${stdout}`);
  return pid;
}

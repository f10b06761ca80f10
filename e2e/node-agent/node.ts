// The Node object and its liveness. kube-controller-manager's node lifecycle controller (if it runs)
// marks a node Unknown and taints it NoExecute — which evicts its pods — when neither its Lease in
// kube-node-lease nor its Ready condition's heartbeat moved within the grace period (50 s in 1.36).
// The agent renews the Lease every 10 s, like kubelet, and refreshes the node status every 40 s.
import os from "node:os";
import { V1MicroTime, type V1Node } from "@kubernetes/client-node";
import { describeError, type Kube } from "./kube.ts";
import { rfc3339 } from "./status.ts";

const LEASE_NAMESPACE = "kube-node-lease";
const LEASE_DURATION_SECONDS = 40;
const LEASE_RENEW_MS = 10_000;
const STATUS_EVERY_MS = 40_000;

export interface NodeIdentity {
  name: string;
  ip: string;
  cpus: number;
  memoryBytes: number;
}

export function nodeIdentity(name: string): NodeIdentity {
  return { name, ip: "127.0.0.1", cpus: os.cpus().length || 1, memoryBytes: os.totalmem() };
}

function arch(): string {
  return ({ x64: "amd64", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x" } as Record<string, string>)[process.arch] ?? process.arch;
}

export function nodeLabels(name: string): Record<string, string> {
  return {
    "kubernetes.io/hostname": name,
    "kubernetes.io/os": "linux",
    "kubernetes.io/arch": arch(),
    "beta.kubernetes.io/os": "linux",
    "beta.kubernetes.io/arch": arch(),
  };
}

export function nodeStatus(id: NodeIdentity, kubeletVersion: string, since: Date, now: Date): Record<string, unknown> {
  const resources = {
    cpu: String(id.cpus),
    memory: String(id.memoryBytes),
    pods: "110",
    "ephemeral-storage": String(100 * 2 ** 30),
  };
  const cond = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: rfc3339(now),
    lastTransitionTime: rfc3339(since),
  });
  return {
    capacity: resources,
    allocatable: resources,
    conditions: [
      cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
      cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
      cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
      cond("Ready", "True", "KubeletReady", "blobstash node agent is posting ready status"),
    ],
    addresses: [
      { type: "InternalIP", address: id.ip },
      { type: "Hostname", address: id.name },
    ],
    daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
    nodeInfo: {
      machineID: "",
      systemUUID: "",
      bootID: "",
      kernelVersion: os.release(),
      osImage: `${os.type()} (blobstash node agent: host processes, no container runtime)`,
      containerRuntimeVersion: "process://",
      kubeletVersion,
      kubeProxyVersion: "",
      operatingSystem: "linux",
      architecture: arch(),
    },
  };
}

/** Registers the Node (or adopts an existing one) and keeps it Ready until stopped. */
export async function startNode(
  kube: Kube,
  id: NodeIdentity,
  log: (msg: string) => void,
): Promise<{ stop(): void }> {
  let kubeletVersion = "v0.0.0";
  try {
    kubeletVersion = await kube.serverVersion();
  } catch (err) {
    log(`node: cannot read the server version (${describeError(err)}); reporting ${kubeletVersion}`);
  }
  let since = new Date();
  let uid: string | undefined;

  const ensureNode = async (): Promise<void> => {
    let node = await kube.readNode(id.name);
    if (!node) {
      const body: V1Node = { metadata: { name: id.name, labels: nodeLabels(id.name) }, spec: {} };
      try {
        node = await kube.createNode(body);
        log(`node: registered ${id.name}`);
      } catch (err) {
        // Lost a race with another registration: adopt what is there.
        node = await kube.readNode(id.name);
        if (!node) throw err;
      }
    } else {
      await kube.patchNode(id.name, { metadata: { labels: nodeLabels(id.name) } });
    }
    uid = node.metadata?.uid;
    // A restarted agent continues the node's Ready period rather than starting a new one.
    const ready = node.status?.conditions?.find((c) => c.type === "Ready");
    if (ready?.status === "True" && ready.lastTransitionTime) since = new Date(ready.lastTransitionTime);
  };

  const postStatus = async (): Promise<void> => {
    try {
      await kube.patchNodeStatus(id.name, nodeStatus(id, kubeletVersion, since, new Date()));
    } catch (err) {
      // A deleted Node is registered again, like kubelet does.
      if ((err as { code?: number }).code !== 404) throw err;
      await ensureNode();
      await kube.patchNodeStatus(id.name, nodeStatus(id, kubeletVersion, since, new Date()));
    }
  };

  const renewLease = async (): Promise<void> => {
    const spec = {
      holderIdentity: id.name,
      leaseDurationSeconds: LEASE_DURATION_SECONDS,
      renewTime: new V1MicroTime(),
    };
    const existing = await kube.readLease(LEASE_NAMESPACE, id.name);
    if (existing) {
      await kube.patchLease(LEASE_NAMESPACE, id.name, { spec });
      return;
    }
    await kube.createLease(LEASE_NAMESPACE, {
      metadata: {
        name: id.name,
        namespace: LEASE_NAMESPACE,
        ...(uid ? { ownerReferences: [{ apiVersion: "v1", kind: "Node", name: id.name, uid }] } : {}),
      },
      spec,
    });
  };

  await ensureNode();
  await postStatus();
  try {
    await renewLease();
  } catch (err) {
    log(`node: lease not renewed yet (${describeError(err)})`);
  }

  let stopped = false;
  let lastStatus = Date.now();
  let busy = false;
  const timer = setInterval(() => {
    if (busy || stopped) return;
    busy = true;
    void (async () => {
      try {
        await renewLease();
        if (Date.now() - lastStatus >= STATUS_EVERY_MS) {
          await postStatus();
          lastStatus = Date.now();
        }
      } catch (err) {
        log(`node: heartbeat failed (${describeError(err)}); retrying`);
      } finally {
        busy = false;
      }
    })();
  }, LEASE_RENEW_MS);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

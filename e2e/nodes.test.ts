// The local cluster's nodes are real: kubelets of the pinned release on containerd 2.x, placing
// pods the scheduler chose, and the runtime enforcing what a pod's spec asks (its own PID namespace,
// uid and gid, a read-only root filesystem, dropped capabilities, no ServiceAccount token), killing
// containers at a Job's deadline and when a Job is deleted. What the operator's Jobs rely on.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BatchV1Api, CoreV1Api, KubeConfig, type V1Pod } from "@kubernetes/client-node";
import { cluster } from "./fixture.ts";
import { NODE_NAMES } from "./cluster/cluster.ts";
import { containerPid } from "./cluster/node.ts";
import { repoRoot } from "./cluster/tools.ts";
import { waitFor } from "./cluster/wait.ts";
import { mustRunToolbox, runToolbox, TOOLBOX_IMAGE } from "./support/toolbox.ts";

const versions = Object.fromEntries(
  readFileSync(path.join(repoRoot, "e2e/tools/versions.env"), "utf8").split("\n").filter((l) => /^[A-Z_]+=/.test(l)).map((l) => l.split("=") as [string, string]),
);

describe("real nodes (kubelet, containerd, runc, CNI, kube-proxy)", function () {
  this.timeout(120_000);
  const ns = `e2e-nodes-${randomBytes(3).toString("hex")}`;
  let core: CoreV1Api;
  let batch: BatchV1Api;

  before(async function () {
    const kc = new KubeConfig();
    kc.loadFromFile(cluster().kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    await core.createNamespace({ body: { metadata: { name: ns } } });
  });

  after(async function () {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  });

  it("has two Ready nodes reporting the pinned kubelet and containerd 2.x", async function () {
    const nodes = (await core.listNode()).items;
    assert.deepEqual(nodes.map((n) => n.metadata?.name).sort(), [...NODE_NAMES].sort());
    for (const n of nodes) {
      assert.equal(n.status?.nodeInfo?.kubeletVersion, versions.KUBERNETES_VERSION);
      
      assert.match(n.status?.nodeInfo?.containerRuntimeVersion ?? "", /^containerd:\/\/v?2\./);
      assert.equal(n.status?.conditions?.find((c) => c.type === "Ready")?.status, "True");
      assert.equal(n.status?.addresses?.find((a) => a.type === "InternalIP")?.address, cluster().nodes.find((x) => x.name === n.metadata?.name)?.ip);
    }
  });

  it("runs a pod on the node the scheduler chose, in its own PID namespace, as the uid and gid it asks for", async function () {
    for (const node of NODE_NAMES) {
      const pod: V1Pod = {
        metadata: { name: `ids-${node}`, namespace: ns },
        spec: {
          restartPolicy: "Never",
          nodeSelector: { "kubernetes.io/hostname": node },
          securityContext: { runAsUser: 1234, runAsGroup: 5678, runAsNonRoot: true },
          containers: [{
            name: "c", image: TOOLBOX_IMAGE, imagePullPolicy: "Never",
            // PID 1 is the container's own first process; a write to / must fail. ($$$$: kubelet reads $$ as a literal $.)
            command: ["sh", "-c", "echo uid=$(id -u) gid=$(id -g) pid1=$(cat /proc/1/comm) self=$$$$; touch /x 2>&1 && echo wrote-root || echo root-read-only; cat /proc/self/status | grep CapEff; ls /var/run/secrets/kubernetes.io 2>&1 | head -1"],
            securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
          }],
        },
      };
      await core.createNamespacedPod({ namespace: ns, body: pod });
      const done = await waitFor(`pod on ${node}`, async () => {
        const p = await core.readNamespacedPod({ namespace: ns, name: pod.metadata!.name! });
        return p.status?.phase === "Succeeded" || p.status?.phase === "Failed" ? p : undefined;
      }, { timeoutMs: 60_000, intervalMs: 200 });
      assert.equal(done.spec?.nodeName, node, "the scheduler placed it where the selector says");
      const log = await core.readNamespacedPodLog({ namespace: ns, name: pod.metadata!.name! });
      assert.match(log, /uid=1234 gid=5678 pid1=sh self=1/, log);
      assert.match(log, /root-read-only/, "readOnlyRootFilesystem is enforced");
      assert.match(log, /CapEff:\s+0000000000000000/, "every capability dropped");
      assert.equal(done.status?.phase, "Succeeded");
      assert.ok(done.status?.podIP?.startsWith(cluster().nodes.find((n) => n.name === node)!.podCidr.split(".").slice(0, 3).join(".")), `pod IP ${done.status?.podIP} from ${node}'s pod subnet`);
    }
  });

  it("mounts no ServiceAccount token into a pod that says so (as every operator Job does)", async function () {
    const r = await runToolbox(core, { namespace: ns, name: "no-token", script: "ls /var/run/secrets/kubernetes.io/serviceaccount 2>&1; true" });
    assert.match(r.log, /No such file or directory/);
    // And a pod that does not opt out gets one: the check above can fail.
    const pod: V1Pod = {
      metadata: { name: "with-token", namespace: ns },
      spec: { restartPolicy: "Never", containers: [{ name: "c", image: TOOLBOX_IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", "ls /var/run/secrets/kubernetes.io/serviceaccount"] }] },
    };
    await core.createNamespacedPod({ namespace: ns, body: pod });
    await waitFor("with-token to finish", async () => (await core.readNamespacedPod({ namespace: ns, name: "with-token" })).status?.phase === "Succeeded", { timeoutMs: 60_000, intervalMs: 200 });
    assert.match(await core.readNamespacedPodLog({ namespace: ns, name: "with-token" }), /token/);
  });

  it("reaches the API server through the kubernetes Service from a pod (kube-proxy), and Azurite through the proxy", async function () {
    const host = cluster().network.kubernetesServiceIp;
    const r = await mustRunToolbox(core, {
      namespace: ns, name: "service",
      // busybox nc: a TCP connect to the ClusterIP, and an HTTP CONNECT through the proxy to the emulator.
      script: `echo | nc -w 5 ${host} 443 && echo kubernetes-service-ok; printf 'CONNECT ${cluster().azurite.account}.blob.${cluster().azurite.endpointSuffix} HTTP/1.1\\r\\n\\r\\n' | nc -w 5 ${new URL(cluster().podProxyUrl).hostname} ${new URL(cluster().podProxyUrl).port} | head -1`,
    });
    assert.match(r.log, /kubernetes-service-ok/);
    assert.match(r.log, /HTTP\/1\.1 200 Connection Established/);
  });

  it("kills a Job's container at activeDeadlineSeconds, and when the Job is deleted", async function () {
    await batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name: "deadline" },
        spec: {
          backoffLimit: 0, activeDeadlineSeconds: 3,
          template: { spec: { restartPolicy: "Never", automountServiceAccountToken: false, containers: [{ name: "c", image: TOOLBOX_IMAGE, imagePullPolicy: "Never", command: ["sleep", "3600"] }] } },
        },
      },
    });
    const failed = await waitFor("the Job to fail at its deadline", async () => {
      const j = await batch.readNamespacedJob({ namespace: ns, name: "deadline" });
      return j.status?.conditions?.find((c) => c.type === "Failed" && c.status === "True");
    }, { timeoutMs: 60_000, intervalMs: 250 });
    assert.equal(failed.reason, "DeadlineExceeded");
    await waitFor("its container to be gone", async () => {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: "batch.kubernetes.io/job-name=deadline" })).items;
      return pods.every((p) => p.status?.containerStatuses?.[0]?.state?.terminated) || pods.length === 0;
    }, { timeoutMs: 60_000, intervalMs: 250 });

    await batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name: "deleted" },
        spec: { backoffLimit: 0, template: { spec: { restartPolicy: "Never", automountServiceAccountToken: false, containers: [{ name: "c", image: TOOLBOX_IMAGE, imagePullPolicy: "Never", command: ["sleep", "3600"] }] } } },
      },
    });
    const running = await waitFor("the Job's pod to run", async () => {
      const [p] = (await core.listNamespacedPod({ namespace: ns, labelSelector: "batch.kubernetes.io/job-name=deleted" })).items;
      return p?.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    const pid = await containerPid(cluster(), running.spec!.nodeName!, running.status!.containerStatuses![0]!.containerID!);
    await batch.deleteNamespacedJob({ namespace: ns, name: "deleted", propagationPolicy: "Background" });
    await waitFor(`the container's process ${pid} to be killed`, () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z") ?? true;
      } catch {
        return true;
      }
    }, { timeoutMs: 60_000, intervalMs: 200 });
  });
});

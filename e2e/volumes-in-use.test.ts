// Volumes in use: a ReadWriteOnce volume that a running Deployment uses on the second node (tainted,
// so only pods that tolerate it run there) is backed up and restored by Jobs on that node; an unused
// volume whose PV has node affinity is backed up where the PV is; a ReadWriteOncePod volume that a
// pod holds fails the session naming the pod, and no Job is made. Real scheduler, kubelets, PV binder.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { cluster } from "./fixture.ts";
import { BackupEnv } from "./backup-restore/harness.ts";
import { record, type Recorder } from "./backup-restore/recorder.ts";
import { waitFor } from "./cluster/wait.ts";
import { mustRunToolbox, TOOLBOX_IMAGE, toolboxPod } from "./support/toolbox.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const PREFIX = `/e2e/in-use-${id}`;
const TAINT = { key: "e2e.blobstash.io/dedicated", value: "app", effect: "NoSchedule" };

describe("volumes in use (real scheduler, kubelets, PV binder)", function () {
  this.timeout(120_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;
  let pods: Recorder<V1Pod>;
  let second = "";
  const pvs: string[] = [];

  /** A PV of our own (a host path), bound to a claim of the same name: what a static or local provisioner makes. */
  async function staticVolume(name: string, accessMode: string, node?: string): Promise<void> {
    const pv = `${env.ns}-${name}`;
    pvs.push(pv);
    await env.core.createPersistentVolume({
      body: {
        metadata: { name: pv },
        spec: {
          capacity: { storage: "1Gi" },
          accessModes: [accessMode],
          persistentVolumeReclaimPolicy: "Retain",
          storageClassName: "",
          hostPath: { path: `/tmp/hostpath_pv/${pv}`, type: "DirectoryOrCreate" },
          ...(node ? { nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "kubernetes.io/hostname", operator: "In", values: [node] }] }] } } } : {}),
        },
      },
    });
    await env.core.createNamespacedPersistentVolumeClaim({
      namespace: env.ns,
      body: { metadata: { name }, spec: { accessModes: [accessMode], storageClassName: "", volumeName: pv, resources: { requests: { storage: "1Gi" } } } },
    });
    await waitFor(`PVC ${name} bound`, async () => (await env.core.readNamespacedPersistentVolumeClaim({ namespace: env.ns, name })).status?.phase === "Bound", { timeoutMs: 30_000, intervalMs: 100 });
  }

  const jobPodOf = (session: string) => [...pods.byUid().values()].find((p) => p.metadata?.labels?.["blobstash.io/session"] === session && p.spec?.nodeName);

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-in-use-${id}`, `operator-in-use-${id}`);
    await env.setUp();
    second = cluster().nodes[1]!.name;
    jobs = await env.recordJobs();
    pods = await record<V1Pod>(env.kc, `/api/v1/namespaces/${env.ns}/pods`, { labelSelector: "app.kubernetes.io/managed-by=blobstash" });
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("main", "azure-secret", PREFIX);
  });

  after(async function () {
    jobs?.stop();
    pods?.stop();
    await env?.kubectl(["taint", "nodes", second, `${TAINT.key}-`]).catch(() => undefined);
    await env?.tearDown();
    for (const pv of pvs) await env?.core.deletePersistentVolume({ name: pv }).catch(() => undefined);
  });

  it("backs up an unused volume on the node its PV is bound to", async function () {
    await staticVolume("pinned", "ReadWriteOnce", second);
    await mustRunToolbox(env.core, { namespace: env.ns, pvc: "pinned", name: "write", script: "echo pinned > /data/pinned.txt" });
    await env.backupConfiguration("pinned", { repository: { name: "main" }, backupHistoryLimit: 5 }, "pinned");
    await env.backupSession("pinned-1", "pinned");
    await env.waitForPhase("backupsessions", "pinned-1", ["Succeeded"], 90_000);
    assert.equal(jobPodOf("pinned-1")?.spec?.nodeName, second);
    // Nothing of ours pinned it: the scheduler follows the PV.
    assert.equal(BackupEnv.jobsOf(jobs, "pinned-1")[0]?.spec?.template.spec?.affinity, undefined);
  });

  it("backs up and restores a volume a Deployment uses on a tainted node with Jobs on that node", async function () {
    await env.kubectl(["taint", "nodes", second, `${TAINT.key}=${TAINT.value}:${TAINT.effect}`]);
    await env.pvc("app-data");
    const toleration = { key: TAINT.key, operator: "Equal", value: TAINT.value, effect: TAINT.effect };
    await env.kubectl(["apply", "-n", env.ns, "-f", "-"], JSON.stringify({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "app" },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: "app" } },
        template: {
          metadata: { labels: { app: "app" } },
          spec: {
            nodeSelector: { "kubernetes.io/hostname": second },
            tolerations: [toleration],
            terminationGracePeriodSeconds: 0,
            containers: [{ name: "app", image: TOOLBOX_IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", "echo written-by-app > /data/app.txt && exec sleep 3600"], volumeMounts: [{ name: "data", mountPath: "/data" }] }],
            volumes: [{ name: "data", persistentVolumeClaim: { claimName: "app-data" } }],
          },
        },
      },
    }));
    let appPod: V1Pod | undefined;
    await waitFor("the app's pod to run on the second node", async () => {
      appPod = (await env.core.listNamespacedPod({ namespace: env.ns, labelSelector: "app=app" })).items.find((p) => p.status?.phase === "Running");
      return !!appPod;
    }, { timeoutMs: 60_000, intervalMs: 200 });
    assert.equal(appPod!.spec?.nodeName, second);

    await env.backupConfiguration("app", { repository: { name: "main" }, backupHistoryLimit: 5 }, "app-data");
    await env.backupSession("app-1", "app");
    const running = await env.waitForPhase("backupsessions", "app-1", ["Running", "Succeeded"], 30_000);
    const done = await env.waitForPhase("backupsessions", "app-1", ["Succeeded"], 90_000);
    assert.equal(jobPodOf("app-1")?.spec?.nodeName, second, "the backup ran on the app's node");
    if (running.status?.phase === "Running") {
      assert.match(running.status.conditions?.find((c) => c.type === "Completed")?.message ?? "", new RegExp(`on node ${second}, where pod ${appPod!.metadata!.name} uses it`));
    }
    const spec = BackupEnv.jobsOf(jobs, "app-1")[0]!.spec!.template.spec!;
    assert.deepEqual(spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms, [{ matchFields: [{ key: "metadata.name", operator: "In", values: [second] }] }]);
    assert.ok(spec.tolerations?.some((t) => t.key === TAINT.key && t.value === TAINT.value && t.effect === TAINT.effect), JSON.stringify(spec.tolerations));
    const listed = await env.restic(PREFIX, PASSWORD, ["ls", done.status!.snapshot!]);
    assert.match(listed, /^\/app\.txt$/m);

    await env.restoreSession("app-restore", "main", "app-data", { snapshots: [done.status!.snapshot!] });
    await env.waitForPhase("restoresessions", "app-restore", ["Succeeded"], 90_000);
    assert.equal(jobPodOf("app-restore")?.spec?.nodeName, second, "the restore ran on the app's node");
  });

  it("names the pod that holds a ReadWriteOncePod volume, and makes no Job", async function () {
    await staticVolume("exclusive", "ReadWriteOncePod");
    const holder = toolboxPod("holder", { namespace: env.ns, pvc: "exclusive", script: "echo held > /data/x && exec sleep 3600" });
    holder.spec!.tolerations = [{ key: TAINT.key, operator: "Exists" }];
    await env.core.createNamespacedPod({ namespace: env.ns, body: holder });
    await waitFor("the holder to run", async () => (await env.core.readNamespacedPod({ namespace: env.ns, name: "holder" })).status?.phase === "Running", { timeoutMs: 60_000, intervalMs: 200 });

    await env.backupConfiguration("exclusive", { repository: { name: "main" }, backupHistoryLimit: 5 }, "exclusive");
    const t0 = Date.now();
    await env.backupSession("exclusive-1", "exclusive");
    const failed = await env.waitForPhase("backupsessions", "exclusive-1", ["Failed"], 30_000);
    const c = failed.status?.conditions?.find((x) => x.type === "Completed");
    assert.equal(c?.reason, "VolumeInUse");
    assert.match(c?.message ?? "", /PVC e2e-in-use-\w+\/exclusive is ReadWriteOncePod and pod holder \(node [\w-]+\) holds it/);
    assert.ok(Date.now() - t0 < 20_000, `failed after ${Date.now() - t0} ms`);
    assert.equal(BackupEnv.jobsOf(jobs, "exclusive-1").length, 0, "no Job was made");
    assert.equal(await env.jobExists("exclusive-1-backup"), false);
  });
});

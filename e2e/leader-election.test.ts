// Leader election end to end: the chart's Deployment with two replicas (pods of the project's image
// on the local cluster's nodes) shares one Lease on the real API server. The Lease holder is a pod,
// and only it reconciles; a SIGKILLed holder (its container's process killed on its node) is
// replaced once its Lease expires, and not before, by the replica that was waiting; deleting the
// holder's pod (SIGTERM) hands the Lease over at once.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { ApiException, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Lease } from "@kubernetes/client-node";
import { execa } from "execa";
import type { Repository } from "../operator/api/repository.ts";
import { cluster } from "./fixture.ts";
import { containerPid } from "./cluster/node.ts";
import { applyCrds, installOperator, kubectl, type OperatorHandle } from "./cluster/operator.ts";
import { tool } from "./cluster/tools.ts";
import { waitFor } from "./cluster/wait.ts";

const GROUP = { group: "stash.appscode.com", version: "v1alpha1", plural: "repositories" };
const id = randomBytes(3).toString("hex");
const ns = `e2e-leader-${id}`;
const opNs = `${ns}-operator`;
const LEASE = "blobstash-operator";
const container = `leader-${id}`;
/** The operator's default lease duration (operator/kube/leader.ts). */
const LEASE_DURATION_MS = 15_000;

/** The pod a Lease holder identity names (`<pod>_<per-process suffix>`). */
const podOf = (identity: string | undefined) => identity?.split("_")[0];

describe("Leader election (the chart's two operator pods sharing one Lease)", function () {
  this.timeout(180_000);
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let leases: CoordinationV1Api;
  let op: OperatorHandle;
  let leader: string;
  let standby: string;

  const metrics = async (pod: string) => (await kubectl(cluster(), ["get", "--raw", `/api/v1/namespaces/${opNs}/pods/${pod}:8080/proxy/metrics`])).stdout;
  /** Reconciles of any kind and outcome so far, from a pod's /metrics. */
  const reconciles = async (pod: string) => {
    let total = 0;
    for (const m of (await metrics(pod)).matchAll(/^blobstash_reconcile_total\{[^}]*\} (\d+)/gm)) total += Number(m[1]);
    return total;
  };
  /** The messages a pod's current container logged (one JSON object per line). */
  const logMessages = async (pod: string, previous = false) => {
    const r = await kubectl(cluster(), ["-n", opNs, "logs", pod, ...(previous ? ["--previous"] : [])]);
    return r.stdout.split("\n").flatMap((line) => {
      try {
        return [String((JSON.parse(line) as { message?: unknown }).message)];
      } catch {
        return [];
      }
    });
  };
  const becameLeader = async (pod: string) => (await logMessages(pod)).filter((m) => m === "became leader").length;

  async function readLease(): Promise<V1Lease | undefined> {
    try {
      return await leases.readNamespacedLease({ name: LEASE, namespace: opNs });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }
  const holderPod = async () => podOf((await readLease())?.spec?.holderIdentity);

  async function createRepository(name: string, secretName: string, prefix = `/${name}`): Promise<void> {
    await custom.createNamespacedCustomObject({
      ...GROUP,
      namespace: ns,
      body: { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", metadata: { name }, spec: { backend: { storageSecretName: secretName, azure: { container, prefix } } } },
    });
  }

  async function waitForReady(name: string, status: string, reason: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(`${ns}/${name} Ready=${status} ${reason}`, async () => {
      const r = (await custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name })) as Repository;
      const ready = r.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === status && ready.reason === reason;
    }, { timeoutMs, intervalMs: 100 });
  }

  before(async function () {
    kc = new KubeConfig();
    kc.loadFromFile(cluster().kubeconfig);
    core = kc.makeApiClient(CoreV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    leases = kc.makeApiClient(CoordinationV1Api);
    await applyCrds(cluster());
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const az = cluster().azurite;
    const blob = new BlobServiceClient(`https://${az.account}.blob.${az.endpointSuffix}`, new StorageSharedKeyCredential(az.account, az.key));
    await blob.getContainerClient(container).createIfNotExists();
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: "azure-secret" },
        stringData: { RESTIC_PASSWORD: `pw-${randomBytes(8).toString("hex")}`, AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key },
      },
    });
    op = await installOperator(cluster(), { release: `leader-${id}`, namespace: opNs, values: { replicaCount: 2, watchNamespaces: [ns] } });
  });

  after(async function () {
    await op?.stop().catch(() => undefined);
    for (const n of [ns, opNs]) await core.deleteNamespace({ name: n }).catch(() => undefined);
  });

  it("lets exactly one of two pods lead: the Lease holder is a pod, and only it logs 'became leader' and reconciles", async function () {
    const pods = await op.pods();
    assert.equal(pods.length, 2, `two replicas run: ${pods.join(", ")}`);
    const name = await waitFor("a holder in the Lease", async () => (await holderPod()) || undefined, { timeoutMs: 30_000 });
    assert.ok(pods.includes(name), `Lease held by ${name}, not one of the pods ${pods.join(", ")}`);
    leader = name;
    standby = pods.find((p) => p !== name)!;
    await waitFor(`${leader} to start its controllers`, async () => (await logMessages(leader)).includes("controllers started"), { timeoutMs: 15_000 });

    const leaderBefore = await reconciles(leader);
    for (let i = 0; i < 5; i++) await createRepository(`one-${i}`, "absent-secret");
    for (let i = 0; i < 5; i++) await waitForReady(`one-${i}`, "False", "SecretNotFound");
    await waitFor("the leader to count its reconciles", async () => (await reconciles(leader)) >= leaderBefore + 5, { timeoutMs: 5_000 });

    assert.equal(await reconciles(standby), 0, "the standby must not reconcile anything");
    assert.equal(await becameLeader(leader), 1);
    assert.equal(await becameLeader(standby), 0, "the standby must never have believed it leads");
    assert.equal(await holderPod(), leader);
  });

  it("SIGKILL of the leader's process: the standby pod waits out the Lease, takes it, and acts", async function () {
    const standbyBefore = await reconciles(standby);
    let lastRenewByLeader = 0;
    const track = (lease: V1Lease | undefined) => {
      if (podOf(lease?.spec?.holderIdentity) === leader && lease?.spec?.renewTime) lastRenewByLeader = new Date(lease.spec.renewTime).getTime();
      return lease;
    };
    track(await readLease());
    const pod = await core.readNamespacedPod({ namespace: opNs, name: leader });
    const pid = await containerPid(cluster(), pod.spec!.nodeName!, pod.status!.containerStatuses![0]!.containerID!);
    const killedAt = Date.now();
    process.kill(pid, "SIGKILL");

    const taken = await waitFor(`${standby} to take the Lease`, async () => {
      const lease = track(await readLease());
      return podOf(lease?.spec?.holderIdentity) === standby ? lease : undefined;
    }, { timeoutMs: LEASE_DURATION_MS + 20_000, intervalMs: 100 });
    const takeoverMs = Date.now() - killedAt;
    const acquiredAt = new Date(taken.spec!.acquireTime!).getTime();
    assert.ok(lastRenewByLeader > 0, "saw the leader renew");
    // The lease might still be in use by a leader that is only slow: the standby must not take it early.
    assert.ok(acquiredAt - lastRenewByLeader >= LEASE_DURATION_MS - 1, `taken ${acquiredAt - lastRenewByLeader} ms after the last renewal`);
    assert.ok(takeoverMs < LEASE_DURATION_MS + 8_000, `took over ${takeoverMs} ms after the kill`);
    assert.ok((taken.spec?.leaseTransitions ?? 0) >= 1);
    console.log(`      takeover after SIGKILL: ${(takeoverMs / 1000).toFixed(1)} s (lease duration ${LEASE_DURATION_MS / 1000} s)`);

    // The killed container came back (restartPolicy Always) as a new candidate, and waits.
    await waitFor(`${leader} to run again`, async () => {
      const p = await core.readNamespacedPod({ namespace: opNs, name: leader });
      return (p.status?.containerStatuses?.[0]?.restartCount ?? 0) >= 1 && p.status?.containerStatuses?.[0]?.ready === true;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    await waitFor(`${standby} to log 'became leader'`, async () => (await becameLeader(standby)) === 1, { timeoutMs: 5_000 });
    await createRepository("after-kill-missing", "absent-secret");
    await createRepository("after-kill-azure", "azure-secret");
    await waitForReady("after-kill-missing", "False", "SecretNotFound");
    await waitForReady("after-kill-azure", "True", "NotInitialized");
    assert.ok((await reconciles(standby)) >= standbyBefore + 2, "the new leader reconciles");
    assert.equal(await becameLeader(leader), 0, "the restarted process never led");
    [leader, standby] = [standby, leader];
  });

  it("deleting the leader's pod releases the Lease: the other pod takes over in well under a lease duration", async function () {
    assert.equal(await holderPod(), leader);
    // The deleted pod's log, followed to its end (a deleted pod's log is gone once it is).
    const follow = execa(tool("kubectl"), ["-n", opNs, "logs", "-f", leader], { env: { ...process.env, KUBECONFIG: cluster().kubeconfig }, reject: false });
    await waitFor("the log to be followed", async () => (await logMessages(leader)).length > 0, { timeoutMs: 5_000 });
    const stoppedAt = Date.now();
    await kubectl(cluster(), ["-n", opNs, "delete", "pod", leader, "--wait=false"]);
    // The standby, or the pod the Deployment made in the deleted one's place: whichever of them
    // tries first after the release (each every retry period) takes it.
    let successor: string | undefined;
    await waitFor(`another pod than ${leader} to take the released Lease`, async () => {
      const holder = await holderPod();
      if (holder && holder !== leader) successor = holder;
      return successor !== undefined;
    }, { timeoutMs: LEASE_DURATION_MS, intervalMs: 50 }).catch(async (err: Error) => {
      follow.kill();
      const said = ((await follow).stdout ?? "").split("\n").slice(-8).join("\n");
      throw new Error(`${err.message}; the Lease: ${JSON.stringify((await readLease())?.spec)}; the old leader's last log lines:\n${said}`);
    });
    const handoverMs = Date.now() - stoppedAt;
    console.log(`      handover after pod deletion: ${(handoverMs / 1000).toFixed(1)} s`);
    // Without the release the standby would wait out a whole lease duration; on a loaded machine the
    // kubelet's SIGTERM and the standby's next try (every retry period) take seconds of their own.
    assert.ok(handoverMs < LEASE_DURATION_MS / 2, `handover took ${handoverMs} ms`);
    const messages = (await follow).stdout;
    assert.match(messages, /"message":"shutting down"/, "the old leader shut down on SIGTERM");
    assert.doesNotMatch(messages, /could not release lease/, "the old leader released its Lease");

    await createRepository("after-term", "absent-secret");
    await waitForReady("after-term", "False", "SecretNotFound");
    await waitFor(`${successor} to reconcile`, async () => (await reconciles(successor!)) >= 1, { timeoutMs: 10_000 });
    await op.waitReady();
    assert.equal((await op.pods()).length, 2, "the Deployment replaced the deleted pod");
  });
});

// Leader election end to end: several `blobstash operator` processes (as the chart's
// ServiceAccount) share one Lease on the real API server. Only the holder reconciles; a SIGKILLed
// holder is replaced once its Lease expires (and not before); a holder stopped with SIGTERM hands
// the Lease over at once.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { ApiException, CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Lease } from "@kubernetes/client-node";
import type { Repository } from "../operator/api/repository.ts";
import { cluster } from "./fixture.ts";
import { applyCrds, installOperatorIdentity, OPERATOR_NAMESPACE, type OperatorHandle, startOperator } from "./cluster/operator.ts";
import { waitFor } from "./cluster/wait.ts";
import { alive, logLines } from "./support/processes.ts";

const GROUP = { group: "stash.appscode.com", version: "v1alpha1", plural: "repositories" };
const id = randomBytes(3).toString("hex");
const ns = `e2e-leader-${id}`;
const leaseName = `blobstash-e2e-leader-${id}`;
const container = `leader-${id}`;
/** The operator's default lease duration (operator/kube/leader.ts). */
const LEASE_DURATION_MS = 15_000;

/** Reconciles of any kind and outcome so far, from the operator's /metrics. */
async function reconciles(op: OperatorHandle): Promise<number> {
  let total = 0;
  for (const m of (await op.metrics()).matchAll(/^blobstash_reconcile_total\{[^}]*\} (\d+)/gm)) total += Number(m[1]);
  return total;
}

/** The messages the operator logged. */
const logMessages = (op: OperatorHandle): string[] => logLines(op).map((l) => String(l.message));

const becameLeader = (op: OperatorHandle) => logMessages(op).filter((m) => m === "became leader").length;

describe("Leader election (operator processes sharing one Lease)", function () {
  this.timeout(180_000);
  let kc: KubeConfig;
  let core: CoreV1Api;
  let custom: CustomObjectsApi;
  let leases: CoordinationV1Api;
  let operatorKubeconfig: string;
  const running = new Map<string, OperatorHandle>();
  let leader: OperatorHandle;
  let standby: OperatorHandle;

  const identity = (op: OperatorHandle) => op.name;

  async function start(name: string): Promise<OperatorHandle> {
    const op = await startOperator(cluster(), {
      name,
      kubeconfig: operatorKubeconfig,
      args: ["--leader-elect=true", `--leader-election-id=${leaseName}`, `--identity=${name}`, `--watch-namespaces=${ns}`],
    });
    running.set(name, op);
    return op;
  }

  async function readLease(): Promise<V1Lease | undefined> {
    try {
      return await leases.readNamespacedLease({ name: leaseName, namespace: OPERATOR_NAMESPACE });
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return undefined;
      throw err;
    }
  }

  const holder = async () => (await readLease())?.spec?.holderIdentity;

  async function createRepository(name: string, secretName: string, prefix = `/${name}`): Promise<void> {
    await custom.createNamespacedCustomObject({
      ...GROUP,
      namespace: ns,
      body: { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", metadata: { name }, spec: { backend: { storageSecretName: secretName, azure: { container, prefix } } } },
    });
  }

  async function waitForReady(name: string, status: string, reason: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      `${ns}/${name} Ready=${status} ${reason}`,
      async () => {
        const r = (await custom.getNamespacedCustomObject({ ...GROUP, namespace: ns, name })) as Repository;
        const ready = r.status?.conditions?.find((c) => c.type === "Ready");
        return ready?.status === status && ready.reason === reason;
      },
      { timeoutMs, intervalMs: 100 },
    );
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
    operatorKubeconfig = await installOperatorIdentity(cluster());
  });

  after(async function () {
    for (const op of running.values()) await op.stop();
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await leases.deleteNamespacedLease({ name: leaseName, namespace: OPERATOR_NAMESPACE }).catch(() => undefined);
  });

  it("lets exactly one of two replicas lead: only the Lease holder logs 'became leader' and reconciles", async function () {
    const [a, b] = await Promise.all([start(`op-${id}-a`), start(`op-${id}-b`)]);
    const name = await waitFor("a holder in the Lease", async () => (await holder()) || undefined, { timeoutMs: 20_000 });
    assert.ok([identity(a), identity(b)].includes(name), `Lease held by ${name}, not one of the two replicas`);
    [leader, standby] = name === identity(a) ? [a, b] : [b, a];
    await waitFor(`${leader.name} to start its controllers`, () => logMessages(leader).includes("controllers started"), { timeoutMs: 10_000 });

    const leaderBefore = await reconciles(leader);
    for (let i = 0; i < 5; i++) await createRepository(`one-${i}`, "absent-secret");
    for (let i = 0; i < 5; i++) await waitForReady(`one-${i}`, "False", "SecretNotFound");
    // The leader's counter moves with the work; wait for the last reconcile to be counted.
    await waitFor("the leader to count its reconciles", async () => (await reconciles(leader)) >= leaderBefore + 5, { timeoutMs: 5_000 });

    assert.equal(await reconciles(standby), 0, "the standby must not reconcile anything");
    assert.equal(becameLeader(leader), 1);
    assert.equal(becameLeader(standby), 0, "the standby must never have believed it leads");
    assert.equal(await holder(), identity(leader));
    assert.ok(alive(standby.pid), "the standby keeps running, waiting for the Lease");
  });

  it("SIGKILL of the leader: the standby waits out the Lease, takes it, and acts", async function () {
    const standbyBefore = await reconciles(standby);
    // Watch the Lease closely from before the kill, to know the last renewal the dead leader made.
    let lastRenewByLeader = 0;
    const track = (lease: V1Lease | undefined) => {
      if (lease?.spec?.holderIdentity === identity(leader) && lease.spec.renewTime) lastRenewByLeader = new Date(lease.spec.renewTime).getTime();
      return lease;
    };
    track(await readLease());
    const killedAt = Date.now();
    leader.kill();
    await waitFor(`${leader.name} to be gone`, () => !alive(leader.pid), { timeoutMs: 5_000, intervalMs: 20 });
    running.delete(leader.name);

    const taken = await waitFor(
      `${standby.name} to take the Lease`,
      async () => {
        const lease = track(await readLease());
        return lease?.spec?.holderIdentity === identity(standby) ? lease : undefined;
      },
      { timeoutMs: LEASE_DURATION_MS + 15_000, intervalMs: 100 },
    );
    const takeoverMs = Date.now() - killedAt;
    const acquiredAt = new Date(taken.spec!.acquireTime!).getTime();
    assert.ok(lastRenewByLeader > 0, "saw the leader renew");
    // The lease might still be in use by a leader that is only slow: the standby must not take it early.
    assert.ok(acquiredAt - lastRenewByLeader >= LEASE_DURATION_MS - 1, `taken ${acquiredAt - lastRenewByLeader} ms after the last renewal`);
    // ...but it must not dawdle either: one retry period (2 s) past expiry, plus slack for a loaded machine.
    assert.ok(takeoverMs < LEASE_DURATION_MS + 8_000, `took over ${takeoverMs} ms after the kill`);
    assert.ok((taken.spec?.leaseTransitions ?? 0) >= 1);
    console.log(`      takeover after SIGKILL: ${(takeoverMs / 1000).toFixed(1)} s (lease duration ${LEASE_DURATION_MS / 1000} s)`);

    await waitFor(`${standby.name} to log 'became leader'`, () => becameLeader(standby) === 1, { timeoutMs: 5_000 });
    await createRepository("after-kill-missing", "absent-secret");
    await createRepository("after-kill-azure", "azure-secret");
    await waitForReady("after-kill-missing", "False", "SecretNotFound");
    await waitForReady("after-kill-azure", "True", "NotInitialized");
    assert.ok((await reconciles(standby)) >= standbyBefore + 2, "the new leader reconciles");
    [leader, standby] = [standby, leader];
  });

  it("SIGTERM of the leader releases the Lease: a standby takes over in well under a lease duration", async function () {
    const next = await start(`op-${id}-c`);
    assert.equal(await holder(), identity(leader), "the running leader keeps the Lease while a new replica joins");
    assert.equal(await reconciles(next), 0);

    const stoppedAt = Date.now();
    const stopping = leader.stop();
    await waitFor(`${next.name} to take the released Lease`, async () => (await holder()) === identity(next), { timeoutMs: LEASE_DURATION_MS, intervalMs: 50 });
    const handoverMs = Date.now() - stoppedAt;
    await stopping;
    running.delete(leader.name);
    console.log(`      handover after SIGTERM: ${(handoverMs / 1000).toFixed(1)} s`);
    assert.ok(handoverMs < 5_000, `handover took ${handoverMs} ms`);
    const messages = logMessages(leader);
    assert.ok(messages.includes("shutting down"), "the old leader shut down on SIGTERM");
    assert.ok(!messages.includes("could not release lease"), "the old leader released its Lease");

    await createRepository("after-term", "absent-secret");
    await waitForReady("after-term", "False", "SecretNotFound");
    assert.ok((await reconciles(next)) >= 1);
    assert.equal(becameLeader(next), 1);
  });
});

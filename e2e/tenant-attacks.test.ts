// Tenants cannot borrow the operator's power. Each row mounts an attack with a tenant's own
// credentials (a ServiceAccount bound to a namespace-scoped Role, used through impersonation) and
// shows the refusal; the run prints the table (attack, expected refusal, observed) and checks that
// the victim namespace's Repository and backups are untouched and the operator never crashed.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:net";
import type { CoreV1Event, V1Job } from "@kubernetes/client-node";
import { execa } from "execa";
import { LABEL_MANAGED_BY, LABEL_REPOSITORY, LABEL_REPOSITORY_NAMESPACE, MANAGED_BY } from "../operator/api/labels.ts";
import { RESULT_VERSION, serializeJobResult } from "../operator/api/result.ts";
import { cluster } from "./fixture.ts";
import { applyCrds, installOperator } from "./cluster/operator.ts";
import { waitFor } from "./cluster/wait.ts";
import { BackupEnv, CONTAINER } from "./backup-restore/harness.ts";
import { TOOLBOX_IMAGE } from "./support/toolbox.ts";

const id = randomBytes(3).toString("hex");
const VICTIM_PREFIX = `/e2e/attacks-${id}/victim`;
const TENANT_PREFIX = `/e2e/attacks-${id}/tenant`;
const VICTIM_PASSWORD = `victim-${randomBytes(12).toString("hex")}`;
const TENANT_PASSWORD = `tenant-${randomBytes(12).toString("hex")}`;

interface Row {
  attack: string;
  expected: string;
  run: () => Promise<string>;
}

describe("tenant attacks: every attempt to borrow the operator's identity, reach or RBAC is refused", function () {
  this.timeout(300_000);
  let victim: BackupEnv;
  let tenant: BackupEnv;
  const tenantUser = `system:serviceaccount:e2e-tenant-${id}:tenant`;
  let listener: Server;
  let listenerPort = 0;
  let connections = 0;

  /** kubectl as the tenant: only what its Role in its own namespace allows. */
  const asTenant = async (args: string[], input?: unknown): Promise<string> => {
    const r = await execa("kubectl", ["--as", tenantUser, "-n", tenant.ns, ...args], {
      env: { ...process.env, KUBECONFIG: cluster().kubeconfig },
      input: input === undefined ? undefined : JSON.stringify(input),
      reject: false,
    });
    if (r.exitCode !== 0) throw new Error(`kubectl --as ${tenantUser} ${args.join(" ")}: ${r.stderr}`);
    return r.stdout;
  };
  const tenantCreate = (obj: Record<string, unknown>) => asTenant(["create", "-f", "-"], obj);
  const secretOf = (name: string, data: Record<string, string>) => ({ apiVersion: "v1", kind: "Secret", metadata: { name }, stringData: data });
  const repositoryOf = (name: string, secretName: string, azure: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    apiVersion: "stash.appscode.com/v1alpha1",
    kind: "Repository",
    metadata: { name },
    spec: { backend: { storageSecretName: secretName, azure }, ...extra },
  });
  const configOf = (name: string, repository: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    apiVersion: "stash.appscode.com/v1beta1",
    kind: "BackupConfiguration",
    metadata: { name },
    spec: { repository, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "source" } }, ...extra },
  });
  const sessionOf = (name: string, config: string) => ({
    apiVersion: "stash.appscode.com/v1beta1",
    kind: "BackupSession",
    metadata: { name },
    spec: { invoker: { apiGroup: "stash.appscode.com", kind: "BackupConfiguration", name: config } },
  });
  const az = () => cluster().azurite;
  const keySecret = (password: string) => ({ RESTIC_PASSWORD: password, AZURE_ACCOUNT_NAME: az().account, AZURE_ACCOUNT_KEY: az().key });
  /** Reason of a Repository condition once it is False. */
  const repositoryReason = async (env: BackupEnv, name: string, type = "Ready"): Promise<{ reason: string; message: string }> =>
    waitFor(`Repository ${env.ns}/${name} ${type}=False`, async () => {
      const c = (await env.getRepository(name)).status?.conditions?.find((x) => x.type === type);
      return c?.status === "False" ? { reason: c.reason, message: c.message } : undefined;
    }, { timeoutMs: 30_000, intervalMs: 200 });
  const victimBlobs = async (): Promise<number> => {
    let n = 0;
    for await (const _ of victim.blob.getContainerClient(CONTAINER).listBlobsFlat({ prefix: `${VICTIM_PREFIX.slice(1)}/` })) n++;
    return n;
  };
  const events = async (env: BackupEnv, name: string): Promise<CoreV1Event[]> =>
    (await env.core.listNamespacedEvent({ namespace: env.ns, fieldSelector: `involvedObject.name=${name}` })).items;

  before(async function () {
    victim = new BackupEnv(cluster(), `e2e-victim-${id}`, `attacks-${id}`);
    tenant = new BackupEnv(cluster(), `e2e-tenant-${id}`, `attacks-${id}`);
    await applyCrds(cluster());
    for (const ns of [victim.ns, tenant.ns]) await victim.core.createNamespace({ body: { metadata: { name: ns } } });
    await victim.blob.getContainerClient(CONTAINER).createIfNotExists();
    const op = await installOperator(cluster(), {
      release: victim.operatorName,
      namespace: victim.operatorNamespace,
      values: {
        replicaCount: 1,
        // Namespace-scoped, as the README recommends for many tenants: the operator may not read namespaces.
        watchNamespaces: [victim.ns, tenant.ns],
        operator: { revalidatePeriod: "2s", repositoryWaitLimit: "10s" },
        // The operator's identity is lent, but only to the victim namespace, for one container.
        workloadIdentity: { enabled: true, clientId: "00000000-0000-0000-0000-000000000001", grants: [{ namespaces: [victim.ns], account: az().account, containers: ["victim-only"] }] },
      },
    });
    victim.op = op;
    tenant.op = op;
    // The tenant: a ServiceAccount whose Role allows what a team gets in its own namespace.
    await tenant.kubectl(["create", "serviceaccount", "-n", tenant.ns, "tenant"]);
    await tenant.kubectl(["apply", "-f", "-"], JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        {
          apiVersion: "rbac.authorization.k8s.io/v1",
          kind: "Role",
          metadata: { name: "tenant", namespace: tenant.ns },
          rules: [
            { apiGroups: [""], resources: ["secrets", "pods", "persistentvolumeclaims", "events"], verbs: ["*"] },
            { apiGroups: ["batch"], resources: ["jobs"], verbs: ["*"] },
            { apiGroups: ["stash.appscode.com"], resources: ["repositories", "backupconfigurations", "backupsessions", "restoresessions"], verbs: ["*"] },
          ],
        },
        { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "tenant", namespace: tenant.ns }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "tenant" }, subjects: [{ kind: "ServiceAccount", name: "tenant", namespace: tenant.ns }] },
      ],
    }));
    // The victim: a Repository with one backup in it, and a shared Repository that admits namespaces by a selector.
    await victim.core.createNamespacedSecret({ namespace: victim.ns, body: { metadata: { name: "vault-secret" }, stringData: keySecret(VICTIM_PASSWORD) } });
    await victim.repository("vault", "vault-secret", VICTIM_PREFIX);
    await victim.pvc("source");
    await victim.writeTree("source", [{ path: "ledger.txt", type: "file", content: "the victim's data\n" }]);
    await victim.backupConfiguration("vault", { repository: { name: "vault" } });
    await victim.backupSession("v-1", "vault");
    await victim.waitForPhase("backupsessions", "v-1", ["Succeeded"], 90_000);
    await victim.custom.createNamespacedCustomObject({
      group: "stash.appscode.com", version: "v1alpha1", plural: "repositories", namespace: victim.ns,
      body: repositoryOf("shared", "vault-secret", { container: CONTAINER, prefix: `${VICTIM_PREFIX}-shared` }, {
        usagePolicy: { allowedNamespaces: { from: "Selector", selector: { matchExpressions: [{ key: "quarantined", operator: "DoesNotExist" }] } } },
      }),
    });
    // The tenant's own, legitimate Repository and volume.
    await tenantCreate(secretOf("own-secret", keySecret(TENANT_PASSWORD)));
    await tenantCreate(repositoryOf("own", "own-secret", { container: CONTAINER, prefix: TENANT_PREFIX }));
    await tenant.waitForRepositoryReady("own");
    await tenantCreate({ apiVersion: "v1", kind: "PersistentVolumeClaim", metadata: { name: "source" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } } });
    // Where an unapproved endpoint would lead: a listener that counts connections.
    listener = createServer((s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    listenerPort = (listener.address() as { port: number }).port;
  });

  after(async function () {
    listener?.close();
    await victim?.tearDown();
    await tenant?.core.deleteNamespace({ name: tenant.ns }).catch(() => undefined);
  });

  const rows: Row[] = [
    {
      attack: "borrow the operator's Azure identity (a Secret with only AZURE_ACCOUNT_NAME) for the victim's container",
      expected: "OperatorIdentityNotAllowed, before any token is asked for",
      run: async () => {
        await tenantCreate(secretOf("borrow", { RESTIC_PASSWORD: TENANT_PASSWORD, AZURE_ACCOUNT_NAME: az().account }));
        await tenantCreate(repositoryOf("borrow", "borrow", { container: CONTAINER, prefix: VICTIM_PREFIX }));
        const r = await repositoryReason(tenant, "borrow");
        assert.match(r.message, new RegExp(`no grant .* lets namespace ${tenant.ns} use account ${az().account}, container ${CONTAINER}`));
        return r.reason;
      },
    },
    {
      attack: "wipeOut of the victim's data through the operator's identity (delete a Repository pointing at it)",
      expected: "WipeOutBlocked; every victim blob stays",
      run: async () => {
        const before = await victimBlobs();
        await tenantCreate(secretOf("wipe", { RESTIC_PASSWORD: TENANT_PASSWORD, AZURE_ACCOUNT_NAME: az().account }));
        await tenantCreate(repositoryOf("wipe", "wipe", { container: CONTAINER, prefix: VICTIM_PREFIX }, { wipeOut: true }));
        await waitFor("the wipe finalizer", async () => ((await tenant.getRepository("wipe")).metadata?.finalizers?.length ?? 0) > 0, { timeoutMs: 30_000, intervalMs: 200 });
        await asTenant(["delete", "repository", "wipe", "--wait=false"]);
        const blocked = await waitFor("a WipeOutBlocked event", async () => (await events(tenant, "wipe")).find((e) => e.reason === "WipeOutBlocked"), { timeoutMs: 30_000, intervalMs: 200 });
        assert.match(blocked.message ?? "", /operator's own Azure identity/);
        assert.equal(await victimBlobs(), before, "no victim blob was deleted");
        return blocked.reason!;
      },
    },
    {
      attack: "point the operator at an endpoint the admin never approved (AZURE_ENDPOINT_SUFFIX=localhost:<listener>)",
      expected: "EndpointNotAllowed; zero connections reach the listener",
      run: async () => {
        await tenantCreate(secretOf("probe", { ...keySecret(TENANT_PASSWORD), AZURE_ENDPOINT_SUFFIX: `localhost:${listenerPort}` }));
        await tenantCreate(repositoryOf("probe", "probe", { container: CONTAINER, prefix: TENANT_PREFIX }));
        const r = await repositoryReason(tenant, "probe");
        // The operator keeps revalidating it every 2 s while the other rows run: the count is checked again at the end.
        assert.equal(connections, 0, "the listener saw no connection");
        return r.reason;
      },
    },
    {
      attack: "a forged Job under the name the session's Job will have, to be adopted",
      expected: "JobNameTaken; the forged Job is not observed",
      run: async () => {
        await tenantCreate({
          apiVersion: "batch/v1",
          kind: "Job",
          metadata: { name: "forge-backup", labels: { [LABEL_MANAGED_BY]: MANAGED_BY } },
          spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: TOOLBOX_IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", "echo '{}' > /dev/termination-log"] }] } } },
        });
        await tenantCreate(configOf("forge", { name: "own" }));
        await tenantCreate(sessionOf("forge", "forge"));
        const s = await tenant.waitForPhase("backupsessions", "forge", ["Failed"], 30_000);
        const c = s.status?.conditions?.find((x) => x.type === "Completed");
        assert.match(c?.message ?? "", /Job .*forge-backup exists but was not made for this session/);
        return c?.reason ?? "";
      },
    },
    {
      attack: "a forged Job labelled with the victim's Repository, to hold its one-Job-at-a-time slot",
      expected: "no effect: the victim's next backup runs (Succeeded)",
      run: async () => {
        await tenantCreate({
          apiVersion: "batch/v1",
          kind: "Job",
          metadata: { name: "slot-hog", labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_REPOSITORY]: "vault", [LABEL_REPOSITORY_NAMESPACE]: victim.ns } },
          spec: { template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: TOOLBOX_IMAGE, imagePullPolicy: "Never", command: ["sleep", "3600"] }] } } },
        });
        await victim.backupSession("v-2", "vault");
        const s = await victim.waitForPhase("backupsessions", "v-2", ["Succeeded"], 90_000);
        return s.status?.phase ?? "";
      },
    },
    {
      attack: "a forged pod claiming the session's Job (owner reference by UID) with a Succeeded result in its termination message",
      expected: "the result is ignored: the session never succeeds, no Repository records a backup",
      run: async () => {
        await tenantCreate(configOf("stuck", { name: "own" }, { timeOut: "40s", runtimeSettings: { pod: { nodeSelector: { "blobstash.io/no-such-node": "x" } } } }));
        await tenantCreate(sessionOf("stuck", "stuck"));
        const job = await waitFor("the session's Job", async () => (await tenant.batch.readNamespacedJob({ namespace: tenant.ns, name: "stuck-backup" }).catch(() => undefined)) as V1Job | undefined, { timeoutMs: 30_000, intervalMs: 200 });
        const now = new Date().toISOString();
        const fake = serializeJobResult({ version: RESULT_VERSION, action: "backup", outcome: "Succeeded", reason: "Succeeded", startTime: now, endTime: now, snapshot: { id: "f".repeat(64), time: now } });
        await tenantCreate({
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: "fake-result",
            labels: { "batch.kubernetes.io/job-name": "stuck-backup", "job-name": "stuck-backup", "batch.kubernetes.io/controller-uid": job.metadata!.uid!, "controller-uid": job.metadata!.uid! },
            ownerReferences: [{ apiVersion: "batch/v1", kind: "Job", name: "stuck-backup", uid: job.metadata!.uid!, controller: true }],
          },
          spec: { restartPolicy: "Never", containers: [{ name: "restic", image: TOOLBOX_IMAGE, imagePullPolicy: "Never", command: ["sh", "-c", `printf '%s' '${fake}' > /dev/termination-log`] }] },
        });
        const s = await tenant.waitForPhase("backupsessions", "stuck", ["Failed"], 90_000);
        assert.equal((await tenant.getRepository("own")).status?.lastBackupTime, undefined, "the tenant's Repository recorded no backup");
        const c = s.status?.conditions?.find((x) => x.type === "Completed");
        return `Failed (${c?.reason})`;
      },
    },
    {
      attack: "restore the victim's snapshot from the victim's shared Repository, which admits the tenant's namespace",
      expected: "SnapshotNotInNamespace; the tenant's latest is its own snapshot",
      run: async () => {
        // The tenant backs up into the shared Repository first, the victim after: the victim's is the newest.
        await tenant.writeTree("source", [{ path: "mine.txt", type: "file", content: "the tenant's data\n" }]);
        await tenantCreate(configOf("shared-own", { name: "shared", namespace: victim.ns }));
        await tenantCreate(sessionOf("shared-own", "shared-own"));
        const own = (await tenant.waitForPhase("backupsessions", "shared-own", ["Succeeded"], 90_000)).status as { snapshot?: string };
        await victim.backupConfiguration("shared", { repository: { name: "shared" } });
        await victim.backupSession("v-shared", "shared");
        const theirs = (await victim.waitForPhase("backupsessions", "v-shared", ["Succeeded"], 90_000)).status as { snapshot?: string };
        assert.ok(own.snapshot && theirs.snapshot && own.snapshot !== theirs.snapshot);
        const restoreOf = (name: string, snapshot: string) => ({
          apiVersion: "stash.appscode.com/v1beta1",
          kind: "RestoreSession",
          metadata: { name },
          spec: { repository: { name: "shared", namespace: victim.ns }, target: { ref: { apiVersion: "v1", kind: "PersistentVolumeClaim", name: "source" }, rules: [{ snapshots: [snapshot] }] } },
        });
        await tenantCreate(restoreOf("shared-latest", "latest"));
        const latest = (await tenant.waitForPhase("restoresessions", "shared-latest", ["Succeeded"], 90_000)).status as { snapshot?: string };
        assert.equal(latest.snapshot, own.snapshot, "latest is the tenant's own snapshot, not the victim's newer one");
        await tenantCreate(restoreOf("steal", theirs.snapshot));
        const s = await tenant.waitForPhase("restoresessions", "steal", ["Failed"], 90_000);
        const c = s.status?.conditions?.find((x) => x.type === "Completed");
        assert.match(c?.message ?? "", new RegExp(`not taken by a backup of namespace ${tenant.ns}`), c?.message);
        const tree = await tenant.readTree("source");
        assert.ok(!tree.some((e) => e.path.includes("ledger")), `nothing of the victim's reached the tenant's volume: ${tree.map((e) => e.path).join(", ")}`);
        return c?.reason ?? "";
      },
    },
    {
      attack: "use the victim's shared Repository (Selector: quarantined DoesNotExist) from a namespace the admin quarantined, namespace-scoped install",
      expected: "RepositoryNotAllowed: the selector is matched against the real labels",
      run: async () => {
        await tenant.kubectl(["label", "namespace", tenant.ns, "quarantined=true"]);
        await tenantCreate(configOf("shared", { name: "shared", namespace: victim.ns }));
        await tenantCreate(sessionOf("shared", "shared"));
        const s = await tenant.waitForPhase("backupsessions", "shared", ["Failed"], 30_000);
        const c = s.status?.conditions?.find((x) => x.type === "Completed");
        assert.match(c?.message ?? "", new RegExp(`namespace ${tenant.ns} does not match`), c?.message);
        return c?.reason ?? "";
      },
    },
    {
      attack: "a restic key file asking scrypt for p = 2^20 in the tenant's own repository",
      expected: "KeyFileInvalid naming the parameters, no derivation",
      run: async () => {
        // A repository of the tenant's making: a config and one key file, named (as restic names them)
        // by the SHA-256 of its content, so nothing but its parameters is wrong.
        const salt = randomBytes(64).toString("base64");
        const data = randomBytes(180).toString("base64");
        const body = JSON.stringify({ created: new Date().toISOString(), username: "x", hostname: "x", kdf: "scrypt", N: 32768, r: 8, p: 1 << 20, salt, data });
        const keys = tenant.blob.getContainerClient(CONTAINER);
        const base = `${TENANT_PREFIX.slice(1)}-keys`;
        await keys.getBlockBlobClient(`${base}/config`).upload(randomBytes(155), 155);
        await keys.getBlockBlobClient(`${base}/keys/${createHash("sha256").update(body).digest("hex")}`).upload(body, Buffer.byteLength(body));
        await tenantCreate(secretOf("keys", keySecret(TENANT_PASSWORD)));
        await tenantCreate(repositoryOf("keys", "keys", { container: CONTAINER, prefix: `${TENANT_PREFIX}-keys` }));
        const r = await repositoryReason(tenant, "keys", "PasswordValid");
        assert.match(r.message, /p=1048576/, `${r.reason}: ${r.message}`);
        return r.reason;
      },
    },
  ];

  it(`refuses each of ${rows.length} attacks, and leaves the victim's Repository whole`, async function () {
    const observed: Array<{ row: Row; observed: string; ok: boolean }> = [];
    for (const row of rows) {
      try {
        observed.push({ row, observed: await row.run(), ok: true });
      } catch (err) {
        observed.push({ row, observed: `FAILED: ${(err as Error).message.replace(/\s+/g, " ").slice(0, 400)}`, ok: false });
      }
    }
    const w = [Math.max(...observed.map((o) => o.row.attack.length)), Math.max(...observed.map((o) => o.row.expected.length))];
    console.log(`\n      ${"attack".padEnd(w[0]!)} | ${"expected refusal".padEnd(w[1]!)} | observed`);
    for (const o of observed) console.log(`      ${o.row.attack.padEnd(w[0]!)} | ${o.row.expected.padEnd(w[1]!)} | ${o.observed}`);
    console.log(`      ${observed.filter((o) => o.ok).length} of ${observed.length} refused as expected; listener connections: ${connections}\n`);
    const expectedReasons: Record<number, string> = { 0: "OperatorIdentityNotAllowed", 1: "WipeOutBlocked", 2: "EndpointNotAllowed", 3: "JobNameTaken", 4: "Succeeded", 6: "SnapshotNotInNamespace", 7: "RepositoryNotAllowed", 8: "KeyFileInvalid" };
    for (const [i, o] of observed.entries()) {
      assert.ok(o.ok, `${o.row.attack}: ${o.observed}`);
      if (expectedReasons[i]) assert.equal(o.observed, expectedReasons[i], o.row.attack);
    }
    assert.match(observed[5]!.observed, /^Failed/);
    assert.equal(connections, 0, "nothing ever connected to the unapproved endpoint");
    // The victim: both of its backups, nothing else, its Repository still Ready.
    assert.equal((await victim.snapshots(VICTIM_PREFIX, VICTIM_PASSWORD)).length, 2);
    await victim.waitForRepositoryReady("vault");
    const restarts = await Promise.all((await victim.op.pods()).map(async (name) => (await victim.core.readNamespacedPod({ namespace: victim.operatorNamespace, name })).status?.containerStatuses?.[0]?.restartCount ?? 0));
    assert.deepEqual(restarts, [0], "the operator never crashed");
  });
});

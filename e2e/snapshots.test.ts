// Snapshot objects end to end: after three backups and a retention run, `kubectl get snapshots -l
// repository=<name>` shows exactly what `restic snapshots` shows, named as Stash names them; a
// `restic forget` run outside the cluster shows up; `kubectl delete snapshot` forgets the snapshot
// in restic (pruned, as the configuration's policy says), and one restic refuses comes back with a
// Deleted=False condition saying why; a user who may read one namespace's
// Repositories cannot list another namespace's Snapshots; deleting a Repository forgets nothing;
// with the operator stopped, `kubectl api-resources` and deleting the namespace still work and the
// restic repository keeps every snapshot.
import assert from "node:assert/strict";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import type { V1Job } from "@kubernetes/client-node";
import { execa } from "execa";
import type { Snapshot } from "../operator/api/snapshot.ts";
import { cluster } from "./fixture.ts";
import { waitFor } from "./cluster/wait.ts";
import { BackupEnv, CONTAINER, REPOSITORIES } from "./backup-restore/harness.ts";
import { openMasterKey } from "../operator/restic/master-key.ts";
import { parseKeyFile, resticMac } from "../operator/restic/password.ts";
import type { Recorder } from "./backup-restore/recorder.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const PREFIX = `/e2e/snapshots-${id}`;
const KEEP_PREFIX = `/e2e/snapshots-keep-${id}`;
const SNAPSHOTS = { group: "repositories.stash.appscode.com", version: "v1alpha1", plural: "snapshots" };
const SYNC = "3s";

describe("Snapshot objects (real API server, garbage collector, Azurite, restic)", function () {
  this.timeout(180_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;

  const list = async (repository: string): Promise<Snapshot[]> =>
    ((await env.custom.listNamespacedCustomObject({ ...SNAPSHOTS, namespace: env.ns, labelSelector: `repository=${repository}` })) as { items: Snapshot[] }).items;
  /** name -> full id, as kubectl shows them. */
  const shown = async (repository: string) => new Map((await list(repository)).map((s) => [s.metadata?.name ?? "", s.status?.id ?? ""]));
  // --no-lock: one test holds an exclusive lock on purpose.
  const inRestic = async (prefix: string) => (JSON.parse(await env.restic(prefix, PASSWORD, ["snapshots", "--json", "--no-lock"])) as Array<{ id: string }>).map((s) => s.id).sort();
  /** Waits until the Snapshot objects are exactly restic's snapshots, named <repository>-<id[:8]>. */
  const waitInSync = async (repository: string, prefix: string, what: string) => {
    let last = "";
    try {
      return await waitFor(what, async () => {
        const [objects, ids] = [await shown(repository), await inRestic(prefix)];
        const want = new Map(ids.map((i) => [`${repository}-${i.slice(0, 8)}`, i]));
        last = `objects ${JSON.stringify([...objects])} restic ${JSON.stringify(ids)}`;
        return objects.size === want.size && [...want].every(([n, i]) => objects.get(n) === i) ? ids : undefined;
      }, { timeoutMs: 30_000, intervalMs: 250 });
    } catch (err) {
      throw new Error(`${(err as Error).message}: ${last}\noperator log:\n${await env.operatorLogTail()}`);
    }
  };
  /** An exclusive restic lock of a process on another host, sealed with the repository's key (what a running prune leaves). */
  const writeForeignLock = async (): Promise<string> => {
    const c = env.blob.getContainerClient(CONTAINER);
    const keys: string[] = [];
    for await (const b of c.listBlobsFlat({ prefix: `${PREFIX.slice(1)}/keys/` })) keys.push(b.name);
    const master = await openMasterKey(PASSWORD, parseKeyFile(await c.getBlobClient(keys[0]!).downloadToBuffer()));
    assert.ok(master, "the password opens the repository's key");
    const plain = Buffer.from(JSON.stringify({ time: new Date().toISOString(), exclusive: true, hostname: "elsewhere", username: "root", pid: 4242, uid: 0, gid: 0 }));
    const iv = randomBytes(16);
    const cipher = createCipheriv("aes-256-ctr", master.encryption, iv);
    const ct = Buffer.concat([cipher.update(plain), cipher.final()]);
    const sealed = Buffer.concat([iv, ct, resticMac(master.macK, master.macR, iv, ct)]);
    const name = `${PREFIX.slice(1)}/locks/${createHash("sha256").update(sealed).digest("hex")}`;
    await c.getBlockBlobClient(name).uploadData(sealed);
    return name;
  };
  const backup = async (name: string) => {
    await env.backupSession(name, "nightly");
    await env.waitForPhase("backupsessions", name, ["Succeeded"]);
  };

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-snapshots-${id}`, `operator-snapshots-${id}`);
    await env.setUp([`--snapshot-sync-period=${SYNC}`]);
    jobs = await env.recordJobs();
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("azure-repo", "azure-secret", PREFIX);
    await env.pvc("source");
    await env.writeTree("source", Array.from({ length: 10 }, (_, i) => ({ path: `file-${i}.txt`, type: "file" as const, randomBytes: 4096 })));
    await env.backupConfiguration("nightly", { repository: { name: "azure-repo" }, retentionPolicy: { name: "keep-2", keepLast: 2, prune: true } });
  });

  after(async function () {
    jobs?.stop();
    await env?.tearDown();
  });

  it("after three backups and a retention run, kubectl get snapshots shows exactly what restic snapshots shows", async function () {
    await backup("b1");
    await backup("b2");
    await backup("b3");
    const ids = await waitInSync("azure-repo", PREFIX, "Snapshot objects = restic's snapshots after retention");
    assert.equal(ids.length, 2, "keepLast 2 left two snapshots");
    const restic = await env.snapshots(PREFIX, PASSWORD);
    for (const s of await list("azure-repo")) {
      const r = restic.find((x) => x.id === s.status?.id)!;
      assert.deepEqual(
        [s.status?.repository, s.status?.hostname, s.status?.tags, Date.parse(s.status?.time ?? "") / 1000],
        ["azure-repo", r.hostname, r.tags, Math.floor(Date.parse(r.time) / 1000)],
        `Snapshot ${s.metadata?.name} carries restic's fields`,
      );
      assert.match(s.status?.tree ?? "", /^[0-9a-f]{64}$/);
      assert.ok(s.status?.size, `Snapshot ${s.metadata?.name} has a size`);
      assert.equal(s.metadata?.ownerReferences?.[0]?.kind, "Repository");
    }
    // What a user types, with the printer columns.
    const table = await env.kubectl(["get", "snapshots", "-n", env.ns, "-l", "repository=azure-repo"]);
    assert.match(table.split("\n")[0] ?? "", /NAME\s+REPOSITORY\s+HOSTNAME\s+TIME\s+SIZE/, table);
    assert.equal(table.trim().split("\n").length, 3, table);
    const explain = await env.kubectl(["explain", "snapshots.status.id", "--api-version=repositories.stash.appscode.com/v1alpha1"]);
    assert.match(explain, /full restic snapshot id/, explain);
  });

  it("a restic forget run outside the cluster shows up", async function () {
    const [oldest] = await inRestic(PREFIX);
    await env.restic(PREFIX, PASSWORD, ["forget", oldest!]);
    const ids = await waitInSync("azure-repo", PREFIX, "the hand-forgotten snapshot's object to go");
    assert.ok(!ids.includes(oldest!));
  });

  it("kubectl delete snapshot forgets it in restic (with prune, as the policy says) through a queued Job", async function () {
    await backup("b4");
    const ids = await waitInSync("azure-repo", PREFIX, "the new backup's Snapshot");
    const victim = ids[0]!;
    const name = `azure-repo-${victim.slice(0, 8)}`;
    await env.kubectl(["delete", "snapshot", "-n", env.ns, name]);
    await waitFor(`restic to no longer have ${victim.slice(0, 8)}`, async () => !(await inRestic(PREFIX)).includes(victim), { timeoutMs: 60_000, intervalMs: 500 });
    const left = await waitInSync("azure-repo", PREFIX, "the objects after the delete");
    assert.deepEqual(left, ids.filter((i) => i !== victim), "exactly the deleted snapshot is gone");
    const forget = [...jobs.byUid().values()].find((j) => j.metadata?.labels?.["app.kubernetes.io/component"] === "forget");
    assert.ok(forget, "a forget Job ran");
    assert.ok(forget.spec?.template.spec?.containers[0]?.args?.includes("--prune"), "prune: the configuration's policy prunes");
    assert.equal(forget.metadata?.ownerReferences?.[0]?.kind, "Repository");
  });

  it("a delete restic refuses (an exclusive lock held elsewhere) puts the object back with a condition saying why", async function () {
    const [victim] = await inRestic(PREFIX);
    const lock = await writeForeignLock();
    try {
      const name = `azure-repo-${victim!.slice(0, 8)}`;
      await env.kubectl(["delete", "snapshot", "-n", env.ns, name]);
      const back = await waitFor(`Snapshot ${name} back with Deleted=False`, async () => {
        const o = (await list("azure-repo")).find((x) => x.metadata?.name === name);
        return o?.status?.conditions?.find((c) => c.type === "Deleted" && c.status === "False") ? o : undefined;
      }, { timeoutMs: 60_000, intervalMs: 500 });
      const c = back.status!.conditions!.find((x) => x.type === "Deleted")!;
      assert.equal(c.reason, "RepositoryLocked", `${c.reason}: ${c.message}`);
      assert.match(c.message, /lock/i, c.message);
      assert.ok((await inRestic(PREFIX)).includes(victim!), "the snapshot is still in restic");
    } finally {
      await env.blob.getContainerClient(CONTAINER).deleteBlob(lock);
    }
  });

  it("RBAC: a user who may read Repositories in one namespace cannot list another namespace's snapshots", async function () {
    const view = `${env.op.fullname}-view`;
    await env.kubectl(["create", "rolebinding", "alice-view", "-n", env.ns, `--clusterrole=${view}`, "--user=alice"]);
    const as = (args: string[]) => execa("kubectl", [...args, "--as=alice"], { env: { ...process.env, KUBECONFIG: env.cluster.kubeconfig }, reject: false });
    await waitFor("alice to read Repositories in her namespace", async () => (await as(["get", "repositories", "-n", env.ns])).exitCode === 0, { timeoutMs: 10_000 });
    const mine = await as(["get", "snapshots", "-n", env.ns, "-l", "repository=azure-repo", "-o", "name"]);
    assert.equal(mine.exitCode, 0, mine.stderr);
    assert.ok(mine.stdout.includes("snapshot"), `alice sees her namespace's snapshots: ${mine.stdout}`);
    const other = await as(["get", "snapshots", "-n", env.operatorNamespace]);
    assert.notEqual(other.exitCode, 0, "alice must not list another namespace's snapshots");
    assert.match(other.stderr, /forbidden/i, other.stderr);
    const all = await as(["get", "snapshots", "--all-namespaces"]);
    assert.match(all.stderr, /forbidden/i, "nor all namespaces'");
    const del = await as(["delete", "snapshot", "-n", env.ns, "--all", "--dry-run=server"]);
    assert.match(del.stderr, /forbidden/i, "view does not delete (and so cannot forget) snapshots");
  });

  it("deleting a Repository deletes its Snapshot objects and forgets nothing", async function () {
    await env.repository("keep", "azure-secret", KEEP_PREFIX);
    await env.backupConfiguration("keep-config", { repository: { name: "keep" } });
    await env.backupSession("k1", "keep-config");
    await env.waitForPhase("backupsessions", "k1", ["Succeeded"]);
    const ids = await waitInSync("keep", KEEP_PREFIX, "the second Repository's Snapshot");
    await env.custom.deleteNamespacedCustomObject({ ...REPOSITORIES, namespace: env.ns, name: "keep" });
    await waitFor("the garbage collector to delete the Snapshot objects", async () => (await list("keep")).length === 0, { timeoutMs: 30_000, intervalMs: 250 });
    // The operator would queue a forget within a second of the deletion; give it two sync periods.
    const settle = Date.now() + 7_000;
    await waitFor("two sync periods", () => Date.now() >= settle, { timeoutMs: 10_000, intervalMs: 250 });
    assert.deepEqual(await inRestic(KEEP_PREFIX), ids, "the restic repository keeps its snapshots");
    const forgets = [...jobs.byUid().values()].filter((j) => j.metadata?.labels?.["app.kubernetes.io/component"] === "forget" && j.metadata?.labels?.["blobstash.io/repository"] === "keep");
    assert.equal(forgets.length, 0, "no forget Job for the deleted Repository's snapshots");
  });

  it("with the operator stopped, api-resources and namespace deletion work, and restic keeps every snapshot", async function () {
    const ids = await inRestic(PREFIX);
    assert.ok(ids.length >= 1, `snapshots to keep: ${ids.length}`);
    await env.op.stop();
    const resources = await env.kubectl(["api-resources", "--api-group=repositories.stash.appscode.com"]);
    assert.match(resources, /snapshots\s+repositories\.stash\.appscode\.com\/v1alpha1\s+true\s+Snapshot/, resources);
    const all = await execa("kubectl", ["api-resources"], { env: { ...process.env, KUBECONFIG: env.cluster.kubeconfig }, reject: false });
    assert.equal(all.exitCode, 0, `kubectl api-resources: ${all.stderr}`);
    await env.kubectl(["delete", "namespace", env.ns, "--wait=false"]);
    await waitFor(`namespace ${env.ns} to be gone`, async () => (await execa("kubectl", ["get", "namespace", env.ns], { env: { ...process.env, KUBECONFIG: env.cluster.kubeconfig }, reject: false })).exitCode !== 0, { timeoutMs: 90_000, intervalMs: 500 });
    assert.deepEqual(await inRestic(PREFIX), ids, "every snapshot is still in the restic repository");
  });
});

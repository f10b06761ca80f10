// An admin's mistakes never cost data, never hang the operator, always get a status (issue 14), end
// to end with real backups: each test makes one class of mistake and asserts what the user needs —
// the repository opens with the Secret's bytes; another Repository's snapshots survive a wipeOut; a
// Repository restic could not open is not Ready; the next session runs after one was deleted
// mid-Job; a restore that restored nothing says so; only a configuration's own sessions count
// toward its history. The mistakes that need no Job are rows of e2e/bad-input.test.ts.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import type { CoreV1Event, V1Job } from "@kubernetes/client-node";
import type { Repository } from "../operator/api/repository.ts";
import { cluster } from "./fixture.ts";
import { waitFor } from "./cluster/wait.ts";
import { BackupEnv, CONTAINER, REPOSITORIES, STASH, mergePatch } from "./backup-restore/harness.ts";
import type { Recorder } from "./backup-restore/recorder.ts";

const id = randomBytes(3).toString("hex");
const base = `e2e/mistakes-${id}`;

describe("an admin's mistakes cost no data, hang nothing and get a status (real API server, Azurite, restic)", function () {
  this.timeout(180_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;
  const az = () => cluster().azurite;
  const b64 = (v: string | Buffer) => Buffer.from(v).toString("base64");

  const condition = (r: Repository | undefined, type: string) => r?.status?.conditions?.find((c) => c.type === type);
  async function waitForCondition(name: string, type: string, reason: string, timeoutMs = 20_000): Promise<Repository> {
    let last: unknown;
    try {
      return await waitFor(`Repository ${name} ${type} reason ${reason}`, async () => {
        const r = await env.getRepository(name);
        last = condition(r, type);
        return condition(r, type)?.reason === reason ? r : undefined;
      }, { timeoutMs, intervalMs: 200 });
    } catch (err) {
      throw new Error(`${(err as Error).message}; last: ${JSON.stringify(last)}`);
    }
  }
  async function createRepository(name: string, secretName: string, prefix: string, extra: Record<string, unknown> = {}): Promise<void> {
    const body = { apiVersion: "stash.appscode.com/v1alpha1", kind: "Repository", metadata: { name }, spec: { backend: { storageSecretName: secretName, azure: { container: CONTAINER, prefix } }, ...extra } };
    await env.custom.createNamespacedCustomObject({ ...REPOSITORIES, namespace: env.ns, body });
  }
  const completed = (s: { status?: { conditions?: Array<{ type: string; reason: string; message: string }> } } | undefined) => s?.status?.conditions?.find((c) => c.type === "Completed");
  const blobsUnder = async (prefix: string) => {
    const names: string[] = [];
    for await (const b of env.blob.getContainerClient(CONTAINER).listBlobsFlat({ prefix: `${prefix}/` })) names.push(b.name);
    return names;
  };
  const events = async (name: string): Promise<CoreV1Event[]> => (await env.core.listNamespacedEvent({ namespace: env.ns, fieldSelector: `involvedObject.name=${name}` })).items;

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-mistakes-${id}`, `operator-mistakes-${id}`);
    await env.setUp();
    jobs = await env.recordJobs();
    // restic refuses to make an empty snapshot, so the volume most tests back up holds one small file.
    await env.pvc("small");
    await env.writeTree("small", [{ path: "file.bin", type: "file", randomBytes: 1024 }]);
  });

  after(async function () {
    jobs?.stop();
    // Repositories left holding the wipe-out finalizer would hold the namespace.
    const list = (await env.custom.listNamespacedCustomObject({ ...REPOSITORIES, namespace: env.ns }).catch(() => ({ items: [] }))) as { items: Repository[] };
    for (const r of list.items) {
      if (r.metadata?.finalizers?.length) await env.custom.patchNamespacedCustomObject({ ...REPOSITORIES, namespace: env.ns, name: r.metadata.name!, body: { metadata: { finalizers: null } } }, mergePatch);
    }
    await env?.tearDown();
  });

  it("refuses a RESTIC_PASSWORD that is not text before any backup, and carries a text password's bytes exactly", async function () {
    const prefix = `${base}/binary`;
    await env.core.createNamespacedSecret({
      namespace: env.ns,
      body: { metadata: { name: "binary" }, data: { RESTIC_PASSWORD: b64(randomBytes(24)), AZURE_ACCOUNT_NAME: b64(az().account), AZURE_ACCOUNT_KEY: b64(az().key) } },
    });
    await createRepository("binary", "binary", `/${prefix}`);
    const refused = await waitForCondition("binary", "Ready", "PasswordNotText", 10_000);
    assert.match(condition(refused, "SecretValid")!.message, /RESTIC_PASSWORD is not UTF-8 text/);
    await env.backupConfiguration("binary", { repository: { name: "binary" }, backupHistoryLimit: 5 }, "small");
    await env.backupSession("binary-1", "binary");
    const failed = await env.waitForPhase("backupsessions", "binary-1", ["Failed"], 30_000);
    assert.equal(completed(failed)?.reason, "PasswordNotText");
    assert.deepEqual(BackupEnv.jobsOf(jobs, "binary-1"), [], "no Job ran");
    assert.deepEqual(await blobsUnder(prefix), [], "nothing was written under the prefix");

    // Spaces, a tab and letters beyond ASCII are all the password's: restic gets exactly these bytes.
    const password = `  pässwörd ✓\t${randomBytes(6).toString("hex")} `;
    await env.storageSecret("text", password);
    await env.repository("text", "text", `/${base}/text`);
    await env.backupConfiguration("text", { repository: { name: "text" }, backupHistoryLimit: 5 }, "small");
    await env.backupSession("text-1", "text");
    const ok = await env.waitForPhase("backupsessions", "text-1", ["Succeeded"], 90_000);
    const snaps = await env.snapshots(`/${base}/text`, password);
    assert.deepEqual(snaps.map((s) => s.id), [ok.status?.snapshot], "the repository opens with the Secret's bytes");
    await assert.rejects(env.restic(`/${base}/text`, password.trim(), ["snapshots"]), /exited 12/, "and only with them");
  });

  it("refuses to wipe out a place another Repository uses, keeps its snapshots, and tells the truth when its data vanishes anyway", async function () {
    const prefix = `${base}/shared`;
    const password = `pw-${randomBytes(8).toString("hex")}`;
    await env.storageSecret("shared", password);
    await env.repository("keeper", "shared", prefix); // "e2e/…/shared"
    await env.backupConfiguration("keeper", { repository: { name: "keeper" }, backupHistoryLimit: 5 }, "small");
    await env.backupSession("keeper-1", "keeper");
    await env.waitForPhase("backupsessions", "keeper-1", ["Succeeded"], 90_000);

    // The same place spelled differently, and a prefix that contains it.
    await createRepository("wiper", "shared", `/${prefix}/`, { wipeOut: true });
    await createRepository("outer", "shared", `/${base}`, { wipeOut: true });
    for (const name of ["wiper", "outer"]) {
      await env.waitForRepositoryReady(name);
      await waitFor(`${name}'s finalizer`, async () => (await env.getRepository(name)).metadata?.finalizers?.includes("blobstash.io/wipe-out"), { timeoutMs: 20_000, intervalMs: 200 });
      await env.custom.deleteNamespacedCustomObject({ ...REPOSITORIES, namespace: env.ns, name });
    }
    const wiper = await waitForCondition("wiper", "Ready", "WipeOutRefused", 15_000);
    assert.match(condition(wiper, "Ready")!.message, new RegExp(`Repository ${env.ns}/keeper uses the same place .*prefix "${prefix}"`));
    const outer = await waitForCondition("outer", "Ready", "WipeOutRefused", 15_000);
    assert.match(condition(outer, "Ready")!.message, new RegExp(`Repository ${env.ns}/[a-z0-9-]+ uses a prefix inside this one's`));
    assert.ok((await events("wiper")).some((e) => e.reason === "WipeOutRefused" && e.type === "Warning"));
    assert.equal((await env.snapshots(`/${prefix}`, password)).length, 1, "keeper's snapshot is still there");

    // The way out the message names: keep the data and let them go.
    for (const name of ["wiper", "outer"]) {
      await env.custom.patchNamespacedCustomObject({ ...REPOSITORIES, namespace: env.ns, name, body: { spec: { wipeOut: false } } }, mergePatch);
      await waitFor(`${name} to be gone`, async () => !(await env.custom.getNamespacedCustomObject({ ...REPOSITORIES, namespace: env.ns, name }).then(() => true, () => false)), { timeoutMs: 20_000, intervalMs: 200 });
    }
    assert.equal((await env.snapshots(`/${prefix}`, password)).length, 1, "still there after both went");

    // Gone anyway (deleted by hand here): keeper says so instead of NotInitialized beside a snapshot count.
    const cc = env.blob.getContainerClient(CONTAINER);
    for (const name of await blobsUnder(prefix)) await cc.deleteBlob(name);
    const lost = await waitForCondition("keeper", "RepositoryInitialized", "DataLost", 15_000);
    assert.match(condition(lost, "RepositoryInitialized")!.message, /although a backup into it finished at/);
    assert.equal(lost.status?.snapshotCount, 0);
    assert.equal(lost.status?.totalSize, undefined);
    assert.equal(condition(lost, "Ready")?.reason, "DataLost");
    assert.ok((await events("keeper")).some((e) => e.reason === "DataLost" && e.type === "Warning"));
    await env.backupSession("keeper-2", "keeper");
    await env.waitForPhase("backupsessions", "keeper-2", ["Succeeded"], 90_000);
    const fresh = await waitForCondition("keeper", "Ready", "Ready", 15_000);
    assert.equal(fresh.status?.snapshotCount, 1);
  });

  it("is not Ready while a key file restic would stop at sits before the real one, in one Repository only", async function () {
    const password = `pw-${randomBytes(8).toString("hex")}`;
    const [px, py] = [`${base}/keys-x`, `${base}/keys-y`];
    for (const p of [px, py]) await env.restic(`/${p}`, password, ["init"]);
    await env.storageSecret("keys", password);
    await env.repository("x", "keys", `/${px}`);
    await env.repository("y", "keys", `/${py}`);
    for (const r of ["x", "y"]) await waitForCondition(r, "Ready", "Ready");
    const cc = env.blob.getContainerClient(CONTAINER);
    const [xKey] = await blobsUnder(`${px}/keys`);
    const [yKey] = await blobsUnder(`${py}/keys`);
    const xContent = await cc.getBlobClient(xKey!).downloadToBuffer();

    // X's key (it opens with this password) copied into Y under a name that is not its content's hash.
    const copied = `${py}/keys/${"0".repeat(64)}`;
    await cc.getBlockBlobClient(copied).upload(xContent, xContent.length);
    const y = await waitForCondition("y", "PasswordValid", "KeyFileInvalid", 15_000);
    assert.match(condition(y, "PasswordValid")!.message, /does not hash to its name/);
    await assert.rejects(env.restic(`/${py}`, password, ["cat", "config"]), /invalid data returned/, "restic itself stops at it");
    assert.equal(condition(await env.getRepository("x"), "Ready")?.reason, "Ready", "X is untouched");
    await env.backupConfiguration("y", { repository: { name: "y" }, backupHistoryLimit: 5 }, "small");
    await env.backupSession("y-1", "y");
    assert.equal(completed(await env.waitForPhase("backupsessions", "y-1", ["Failed"], 30_000))?.reason, "KeyFileInvalid");
    assert.deepEqual(BackupEnv.jobsOf(jobs, "y-1"), [], "no Job ran");
    await cc.deleteBlob(copied);
    await waitForCondition("y", "Ready", "Ready", 15_000);

    // X's key copied whole (its own name) in place of Y's: the password opens it, Y's config does not.
    const yContent = await cc.getBlobClient(yKey!).downloadToBuffer();
    const foreign = `${py}/keys/${path.basename(xKey!)}`;
    await cc.getBlockBlobClient(foreign).upload(xContent, xContent.length);
    await cc.deleteBlob(yKey!);
    const damaged = await waitForCondition("y", "PasswordValid", "ConfigOrKeyDamaged", 15_000);
    assert.match(condition(damaged, "PasswordValid")!.message, /copied in from another repository/);
    await assert.rejects(env.restic(`/${py}`, password, ["cat", "config"]), /config or key .* is damaged/);
    await cc.getBlockBlobClient(yKey!).upload(yContent, yContent.length);
    await cc.deleteBlob(foreign);
    await waitForCondition("y", "Ready", "Ready", 15_000);
  });

  it("frees the Repository's one-Job slot when a session, or its BackupConfiguration, is deleted while its Job runs", async function () {
    const password = `pw-${randomBytes(8).toString("hex")}`;
    await env.storageSecret("slot", password);
    await env.repository("slot", "slot", `/${base}/slot`);
    // Jobs whose pod no node takes: they hold the slot, unfinished, for as long as they exist.
    const nowhere = { pod: { nodeSelector: { "e2e.blobstash.io/nowhere": "true" } } };
    await env.backupConfiguration("stuck", { repository: { name: "slot" }, backupHistoryLimit: 5, runtimeSettings: nowhere }, "small");
    await env.backupConfiguration("doomed", { repository: { name: "slot" }, backupHistoryLimit: 5, runtimeSettings: nowhere }, "small");
    await env.backupConfiguration("next", { repository: { name: "slot" }, backupHistoryLimit: 5 }, "small");

    // doomed-1 is shaped as the schedule makes its sessions: owned by its configuration, so it goes with it.
    const doomed = (await env.custom.getNamespacedCustomObject({ ...STASH, plural: "backupconfigurations", namespace: env.ns, name: "doomed" })) as { metadata: { uid: string } };
    const scheduledSession = () =>
      env.custom.createNamespacedCustomObject({
        ...STASH,
        plural: "backupsessions",
        namespace: env.ns,
        body: {
          apiVersion: "stash.appscode.com/v1beta1",
          kind: "BackupSession",
          metadata: {
            name: "doomed-1",
            ownerReferences: [{ apiVersion: "stash.appscode.com/v1beta1", kind: "BackupConfiguration", name: "doomed", uid: doomed.metadata.uid, controller: true, blockOwnerDeletion: true }],
          },
          spec: { invoker: { apiGroup: "stash.appscode.com", kind: "BackupConfiguration", name: "doomed" } },
        },
      });
    const deleteSession = () => env.custom.deleteNamespacedCustomObject({ ...STASH, plural: "backupsessions", namespace: env.ns, name: "stuck-1" });
    const deleteConfig = () => env.custom.deleteNamespacedCustomObject({ ...STASH, plural: "backupconfigurations", namespace: env.ns, name: "doomed" });
    for (const [victim, create, remove, next] of [
      ["stuck-1", () => env.backupSession("stuck-1", "stuck"), deleteSession, "next-1"],
      ["doomed-1", scheduledSession, deleteConfig, "next-2"],
    ] as const) {
      await create();
      await env.waitForPhase("backupsessions", victim, ["Running"], 30_000);
      await env.backupSession(next, "next");
      await waitFor(`${next} to queue behind ${victim}`, async () => completed(await env.getSession("backupsessions", next))?.reason === "Queued", { timeoutMs: 20_000, intervalMs: 100 });
      await remove();
      await waitFor(`${victim}'s Job to be gone`, async () => !(await env.jobExists(`${victim}-backup`)), { timeoutMs: 30_000, intervalMs: 100 });
      // It runs, rather than waiting Queued behind a Job that no longer exists.
      const gone = Date.now();
      await env.waitForPhase("backupsessions", next, ["Running", "Succeeded"], 20_000);
      assert.ok(Date.now() - gone < 10_000, `${next} started ${Date.now() - gone} ms after ${victim}'s Job went`);
      await env.waitForPhase("backupsessions", next, ["Succeeded"], 90_000);
    }
  });

  it("says a restore that restored nothing restored nothing", async function () {
    const password = `pw-${randomBytes(8).toString("hex")}`;
    await env.storageSecret("restore", password);
    await env.repository("restore", "restore", `/${base}/restore`);
    await env.pvc("few");
    await env.writeTree("few", [{ path: "data/a.bin", type: "file", randomBytes: 4096 }]);
    await env.pvc("target");
    await env.backupConfiguration("few", { repository: { name: "restore" }, backupHistoryLimit: 5 }, "few");
    await env.backupSession("few-1", "few");
    const backup = await env.waitForPhase("backupsessions", "few-1", ["Succeeded"], 90_000);

    // A typo in include: restic exits 0 having written nothing.
    await env.restoreSession("typo", "restore", "target", { snapshots: ["latest"], include: ["/data/b.bin"] });
    const typo = await env.waitForPhase("restoresessions", "typo", ["Failed"], 60_000);
    assert.equal(completed(typo)?.reason, "NothingRestored");
    assert.match(completed(typo)!.message, /include \["\/data\/b\.bin"\] match nothing in snapshot/);
    // The same rule with the right path restores the file (the control).
    await env.restoreSession("right", "restore", "target", { snapshots: [backup.status!.snapshot!], include: ["/data/a.bin"] });
    const right = await env.waitForPhase("restoresessions", "right", ["Succeeded"], 60_000);
    assert.equal(completed(right)?.reason, "Succeeded");
    assert.ok((right.status?.filesRestored ?? 0) >= 1);

    // (A snapshot that holds nothing restores nothing and says so too, as Succeeded: restic makes no
    // empty snapshots, so operator/controllers/restoresession/verdict.test.ts covers that case.)
  });

  it("counts only a configuration's own sessions toward its backupHistoryLimit", async function () {
    const password = `pw-${randomBytes(8).toString("hex")}`;
    await env.storageSecret("hist", password);
    await env.repository("hist", "hist", `/${base}/hist`);
    await env.backupConfiguration("hist", { repository: { name: "hist" }, backupHistoryLimit: 1 }, "small");
    await env.backupSession("hist-1", "hist");
    await env.waitForPhase("backupsessions", "hist-1", ["Succeeded"], 90_000);
    // Same name, another kind: not this configuration's session.
    const body = {
      apiVersion: "stash.appscode.com/v1beta1",
      kind: "BackupSession",
      metadata: { name: "batch-1" },
      spec: { invoker: { apiGroup: "stash.appscode.com", kind: "BackupBatch", name: "hist" } },
    };
    await env.custom.createNamespacedCustomObject({ ...STASH, plural: "backupsessions", namespace: env.ns, body });
    assert.equal(completed(await env.waitForPhase("backupsessions", "batch-1", ["Failed"], 30_000))?.reason, "Unsupported");
    await env.backupSession("hist-2", "hist");
    await env.waitForPhase("backupsessions", "hist-2", ["Succeeded"], 90_000);
    // hist-2 pushed hist-1 past the limit of one; batch-1 was never counted, nor deleted.
    await waitFor("hist-1 to be pruned", async () => (await env.getSession("backupsessions", "hist-1")) === undefined, { timeoutMs: 20_000, intervalMs: 200 });
    assert.ok(await env.getSession("backupsessions", "hist-2"), "the newest Succeeded session is kept");
    assert.ok(await env.getSession("backupsessions", "batch-1"), "another kind's session is neither counted nor pruned");
  });
});

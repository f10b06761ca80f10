// Backups that go wrong, end to end: a password changed under a repository, the storage emulator
// going away in the middle of an upload, and the operator dying while its Job runs. Each ends with
// the session's reason saying what happened, and with the next backup working.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { cluster } from "./fixture.ts";
import { waitFor } from "./cluster/wait.ts";
import { BackupEnv, CONTAINER } from "./backup-restore/harness.ts";
import { record, type Recorder } from "./backup-restore/recorder.ts";
import { containerPid } from "./cluster/node.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const NET_PREFIX = `/e2e/failures-net-${id}`;

describe("backups that fail, and recover (real API server, job controller, Azurite, restic)", function () {
  this.timeout(240_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;
  let pods: Recorder<V1Pod>;

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-failures-${id}`, `operator-failures-${id}`);
    await env.setUp();
    jobs = await env.recordJobs();
    pods = await record<V1Pod>(env.kc, `/api/v1/namespaces/${env.ns}/pods`, { labelSelector: "app.kubernetes.io/managed-by=blobstash" });
    await env.storageSecret("azure-secret", PASSWORD);
    await env.storageSecret("pw-secret", `first-${PASSWORD}`);
    await Promise.all([env.repository("net", "azure-secret", NET_PREFIX), env.repository("pw", "pw-secret", `/e2e/failures-pw-${id}`)]);
    await env.pvc("small");
    await env.writeTree("small", [{ path: "dir/file.txt", type: "file", content: "small\n" }]);
    // Large enough that the upload is still going when the emulator is stopped (it is stopped as soon as it starts).
    await env.pvc("large");
    await env.writeTree("large", [{ path: "data.bin", type: "file", randomBytes: 96 << 20 }]);
    await env.backupConfiguration("pw", { repository: { name: "pw" }, backupHistoryLimit: 5 }, "small");
    // timeOut bounds how long restic retries an unreachable endpoint (by itself, up to 15 minutes). It
    // must leave restic time to report a retry: the emulator takes seconds to stop, the Azure SDK
    // retries by itself before restic sees an error.
    await env.backupConfiguration("net", { repository: { name: "net" }, backupHistoryLimit: 5, timeOut: "90s" }, "large");
  });

  after(async function () {
    jobs?.stop();
    pods?.stop();
    await env?.tearDown();
  });

  it("fails with WrongPassword once the Secret's RESTIC_PASSWORD no longer opens the repository", async function () {
    await env.backupSession("pw-1", "pw");
    await env.waitForPhase("backupsessions", "pw-1", ["Succeeded"], 60_000);
    const wrong = `second-${PASSWORD}`;
    await env.core.replaceNamespacedSecret({
      namespace: env.ns,
      name: "pw-secret",
      body: { metadata: { name: "pw-secret" }, stringData: { RESTIC_PASSWORD: wrong, AZURE_ACCOUNT_NAME: cluster().azurite.account, AZURE_ACCOUNT_KEY: cluster().azurite.key } },
    });
    await env.backupSession("pw-2", "pw");
    const failed = await env.waitForPhase("backupsessions", "pw-2", ["Failed"], 60_000);
    const c = failed.status?.conditions?.find((x) => x.type === "Completed");
    assert.equal(c?.reason, "WrongPassword", JSON.stringify(c));
    assert.ok(!JSON.stringify(failed.status).includes(wrong) && !JSON.stringify(failed.status).includes(PASSWORD), "no password in the status");
  });

  it("fails with a network reason when the emulator stops mid-backup, and the next backup succeeds past the stale lock", async function () {
    const az = cluster().azurite;
    const data = env.blob.getContainerClient(CONTAINER);
    const packs = async () => {
      const names: string[] = [];
      for await (const b of data.listBlobsFlat({ prefix: `${NET_PREFIX.slice(1)}/data/` })) names.push(b.name);
      return names;
    };
    await env.backupSession("net-1", "net");
    await waitFor("the first pack of net-1 to reach the emulator", async () => (await packs()).length > 0, { timeoutMs: 60_000, intervalMs: 100 });
    // While it runs: the wrapper's real process environment (the container's process, found through
    // its node's containerd) holds the minted SAS and no account key.
    const pod = [...pods.byUid().values()].find((p) => p.metadata?.labels?.["blobstash.io/session"] === "net-1" && p.status?.containerStatuses?.[0]?.containerID);
    const pid = await containerPid(cluster(), pod!.spec!.nodeName!, pod!.status!.containerStatuses![0]!.containerID!);
    const environ = await readFile(`/proc/${pid}/environ`, "utf8");
    const vars = new Map(environ.split("\0").filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]));
    assert.ok(vars.get("AZURE_ACCOUNT_SAS")?.includes("sig="), "the wrapper got a SAS");
    assert.equal(vars.get("AZURE_ACCOUNT_KEY"), undefined);
    assert.ok(!environ.includes(az.key), "no account key anywhere in the wrapper's environment");
    await az.stop();
    const failed = await env.waitForPhase("backupsessions", "net-1", ["Failed"], 150_000).finally(() => az.start());
    const c = failed.status?.conditions?.find((x) => x.type === "Completed");
    assert.equal(c?.reason, "NetworkError", JSON.stringify(c));
    assert.match(c?.message ?? "", /restic was retrying|connect|refused|Bad Gateway|EOF/i);
    assert.equal(failed.status?.snapshot, undefined);

    // restic could not remove its lock while the emulator was down; the next backup must get past it.
    const locks = (await env.restic(NET_PREFIX, PASSWORD, ["list", "locks", "--no-lock"])).trim().split("\n").filter(Boolean);
    assert.equal(locks.length, 1, "the interrupted backup left its lock behind");
    await env.waitForRepositoryReady("net");
    await env.backupSession("net-2", "net");
    const ok = await env.waitForPhase("backupsessions", "net-2", ["Succeeded"], 90_000);
    assert.equal((await env.snapshots(NET_PREFIX, PASSWORD)).map((s) => s.id).join(), ok.status?.snapshot, "the backup made its snapshot");
    assert.equal((await env.getRepository("net")).status?.snapshotCount, 1);
    // The dead pod's lock is another host's (each Job pod has its own hostname) and younger than
    // restic's 30 minutes, so restic does not deem it stale: it stays, and a prune must wait for it.
    assert.deepEqual((await env.restic(NET_PREFIX, PASSWORD, ["list", "locks", "--no-lock"])).trim().split("\n").filter(Boolean), locks);
  });

  it("finishes a session whose operator was SIGKILLed while its Job ran, with one Job only", async function () {
    await env.waitForRepositoryReady("net");
    await env.backupSession("kill-1", "net");
    let phase: string | undefined;
    await waitFor("kill-1's pod to run", () => [...pods.byUid().values()].some((p) => p.metadata?.labels?.["blobstash.io/session"] === "kill-1" && p.status?.phase === "Running"), {
      timeoutMs: 60_000,
      intervalMs: 50,
      abortIf: async () => {
        phase = (await env.getSession("backupsessions", "kill-1"))?.status?.phase;
        return phase === "Succeeded" || phase === "Failed" ? `the session ended ${phase} first` : undefined;
      },
    });
    await env.op.kill();
    await env.op.waitReady();
    const done = await env.waitForPhase("backupsessions", "kill-1", ["Succeeded"], 90_000);
    assert.equal(BackupEnv.jobsOf(jobs, "kill-1").length, 1, "exactly one Job ever existed for the session");
    const snaps = await env.snapshots(NET_PREFIX, PASSWORD);
    assert.equal(snaps.length, 2);
    assert.equal(done.status?.snapshot, snaps.sort((a, b) => Date.parse(a.time) - Date.parse(b.time))[1]!.id);
    assert.equal(done.status?.targets?.[0]?.stats?.[0]?.snapshots?.[0]?.fileStats?.unmodifiedFiles, 1);
    const repo = (await env.getRepository("net")).status!;
    assert.equal(repo.snapshotCount, 2);
    assert.ok(Date.parse(repo.lastBackupTime!) > Date.parse(repo.firstBackupTime!));
    // The restarted operator cleaned up what the killed one left: the Job's credentials Secret.
    const left = await env.core.listNamespacedSecret({ namespace: env.ns, labelSelector: "app.kubernetes.io/managed-by=blobstash" });
    assert.deepEqual(left.items.map((s) => s.metadata?.name), []);
  });
});

// Integrity from `restic check` only, end to end: a backup no longer claims integrity; a check of a
// healthy repository (asked for with the check-now annotation) sets it true; with one pack's bytes
// damaged, a structure-only check still passes but an n/t subset check finds it within t runs,
// reading 1/t, 2/t, … in turn; with a pack deleted from the container, a full check sets integrity
// false with restic's own words, a Warning event and the metric at 0. Checks wait for the
// Repository's running backup (one Job per Repository) and run with a read+list SAS.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { CoreV1Event, V1Job } from "@kubernetes/client-node";
import type { Repository } from "../operator/api/repository.ts";
import { cluster } from "./fixture.ts";
import { waitFor } from "./cluster/wait.ts";
import { BackupEnv, CONTAINER, REPOSITORIES, mergePatch } from "./backup-restore/harness.ts";
import type { Recorder } from "./backup-restore/recorder.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const PREFIX = `e2e/integrity-${id}`;
const REPO = "checked";

describe("integrity checks (real API server, job controller, Azurite, restic)", function () {
  this.timeout(240_000);
  let env: BackupEnv;
  let jobs: Recorder<V1Job>;
  let request = 0;

  const repo = () => env.getRepository(REPO);
  const patchRepo = (body: Record<string, unknown>) => env.custom.patchNamespacedCustomObject({ ...REPOSITORIES, namespace: env.ns, name: REPO, body }, mergePatch);
  /** Asks for a check now (the annotation) and waits for its result in status.lastCheck. */
  const checkNow = async (): Promise<NonNullable<NonNullable<Repository["status"]>["lastCheck"]>> => {
    const value = `req-${++request}`;
    await patchRepo({ metadata: { annotations: { "blobstash.io/check-now": value } } });
    let last: unknown;
    try {
      return await waitFor(`the check asked for with ${value}`, async () => {
        const r = await repo();
        last = r.status?.lastCheck;
        return r.status?.lastCheck?.request === value ? r.status.lastCheck : undefined;
      }, { timeoutMs: 60_000, intervalMs: 250 });
    } catch (err) {
      throw new Error(`${(err as Error).message}; last check: ${JSON.stringify(last)}\noperator log:\n${await env.operatorLogTail()}`);
    }
  };
  const packs = async () => {
    const out: string[] = [];
    for await (const b of env.blob.getContainerClient(CONTAINER).listBlobsFlat({ prefix: `${PREFIX}/data/` })) out.push(b.name);
    return out;
  };
  const condition = (r: Repository) => r.status?.conditions?.find((c) => (c.type as string) === "IntegrityVerified");

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-integrity-${id}`, `operator-integrity-${id}`);
    await env.setUp();
    jobs = await env.recordJobs();
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository(REPO, "azure-secret", `/${PREFIX}`);
    await env.pvc("source");
    // Files of random bytes large enough for several packs (restic packs are ≥ 16 MiB only when there is that much).
    await env.writeTree("source", Array.from({ length: 6 }, (_, i) => ({ path: `big-${i}.bin`, type: "file" as const, randomBytes: 3 * 1024 * 1024 })));
    await env.backupConfiguration("daily", { repository: { name: REPO } });
  });

  after(async function () {
    jobs?.stop();
    await env?.tearDown();
  });

  it("a backup claims no integrity; a check of the healthy repository, queued behind the running backup, sets it true", async function () {
    await env.backupSession("b1", "daily");
    await waitFor("the backup Job to start", async () => (await env.getSession("backupsessions", "b1"))?.status?.phase === "Running", { timeoutMs: 60_000, intervalMs: 100 });
    const check = await checkNow();
    const backup = await env.waitForPhase("backupsessions", "b1", ["Succeeded"]);
    assert.deepEqual([check.result, check.reason], ["Passed", "CheckPassed"], check.message);
    const r = await repo();
    assert.equal(r.status?.integrity, true, "integrity true after a passed check");
    assert.deepEqual([condition(r)?.status, condition(r)?.reason], ["True", "CheckPassed"], JSON.stringify(condition(r)));
    // Queued with the backup: the check Job was let run (unsuspended) only after the backup Job finished.
    const seen = jobs.events;
    const backupDone = seen.find((e) => e.object.metadata?.labels?.["app.kubernetes.io/component"] === "backup" && e.object.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True"))?.at;
    const checkRan = seen.find((e) => e.object.metadata?.labels?.["app.kubernetes.io/component"] === "check" && e.object.spec?.suspend === false)?.at;
    assert.ok(backupDone && checkRan, `both Jobs seen (backup ${backup.status?.phase})`);
    assert.ok(checkRan >= backupDone - 1500, `the check started ${checkRan - backupDone} ms after the backup finished`);
    const checkJob = seen.find((e) => e.object.metadata?.labels?.["app.kubernetes.io/component"] === "check")!.object;
    assert.equal(checkJob.metadata?.ownerReferences?.[0]?.kind, "Repository");
    const metrics = await env.op.metrics();
    assert.match(metrics, new RegExp(`blobstash_repository_integrity\\{namespace="${env.ns}",repository="${REPO}"\\} 1`), "the integrity metric says 1");
  });

  it("damaged pack bytes: a structure check passes, a 1/3 subset check finds it within three runs", async function () {
    const all = await packs();
    assert.ok(all.length >= 2, `several packs to choose from (${all.length})`);
    // The largest pack holds file data; flip bytes in the middle, keeping its size and name.
    const sizes = await Promise.all(all.map(async (n) => [n, (await env.blob.getContainerClient(CONTAINER).getBlobClient(n).getProperties()).contentLength ?? 0] as const));
    const [victim, size] = [...sizes].sort((a, b) => b[1] - a[1])[0]!;
    const blob = env.blob.getContainerClient(CONTAINER).getBlockBlobClient(victim);
    const bytes = await blob.downloadToBuffer();
    for (let i = 0; i < 64; i++) bytes[Math.floor(size / 2) + i] = (bytes[Math.floor(size / 2) + i] ?? 0) ^ 0xff;
    await blob.uploadData(bytes);

    const structure = await checkNow();
    assert.equal(structure.result, "Passed", `without reading data the damage is not seen: ${structure.message}`);
    await patchRepo({ spec: { integrityCheck: { readDataSubset: "1/3" } } });
    const runs: Array<{ subset?: string; result: string; message: string }> = [];
    for (let i = 0; i < 3; i++) {
      const c = await checkNow();
      runs.push({ subset: c.readDataSubset, result: c.result, message: c.message });
      if (c.result === "Damaged") break;
    }
    assert.deepEqual(runs.map((r) => r.subset), ["1/3", "2/3", "3/3"].slice(0, runs.length), "the parts are read in turn");
    const found = runs.find((r) => r.result === "Damaged");
    assert.ok(found, `one of three 1/3 checks finds the damaged pack: ${JSON.stringify(runs)}`);
    assert.match(found.message, /pack|hash|ciphertext|verification/i, `restic's words: ${found.message}`);
    assert.equal((await repo()).status?.integrity, false);
  });

  it("a deleted pack: a full check sets integrity false with restic's message, a Warning event and the metric at 0", async function () {
    await patchRepo({ spec: { integrityCheck: null } });
    const healthyAgainFirst = await packs();
    await env.blob.getContainerClient(CONTAINER).deleteBlob(healthyAgainFirst[0]!);
    const check = await checkNow();
    assert.deepEqual([check.result, check.reason], ["Damaged", "RepositoryDamaged"], check.message);
    assert.match(check.message, /does not exist|not found/i, `restic names the missing pack: ${check.message}`);
    const r = await repo();
    assert.equal(r.status?.integrity, false);
    assert.deepEqual([condition(r)?.status, condition(r)?.reason], ["False", "RepositoryDamaged"]);
    assert.match(condition(r)?.message ?? "", /does not exist|not found/i);
    const events = (await env.core.listNamespacedEvent({ namespace: env.ns, fieldSelector: `involvedObject.name=${REPO}` })).items as CoreV1Event[];
    assert.ok(events.some((e) => e.type === "Warning" && e.reason === "RepositoryDamaged"), `a Warning event: ${events.map((e) => `${e.type}/${e.reason}`).join(", ")}`);
    await waitFor("the integrity metric at 0", async () => new RegExp(`blobstash_repository_integrity\\{namespace="${env.ns}",repository="${REPO}"\\} 0`).test(await env.op.metrics()), { timeoutMs: 10_000, intervalMs: 500 });
  });

  it("a schedule runs checks on its own", async function () {
    await patchRepo({ spec: { integrityCheck: { schedule: "*/5 * * * * *" } } });
    const r = await waitFor("a scheduled check", async () => {
      const x = await repo();
      return x.status?.lastCheck?.scheduledFor ? x : undefined;
    }, { timeoutMs: 60_000, intervalMs: 500 });
    assert.equal(Date.parse(r.status!.lastCheck!.scheduledFor!) % 5000, 0, "for a time of the schedule");
    await patchRepo({ spec: { integrityCheck: null } });
  });
});

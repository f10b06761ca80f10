// restic's memory in a Job: a container memory limit reaches restic as GOMEMLIMIT through the
// downward API (less the wrapper's share), and a Job killed for memory anyway fails OutOfMemory with
// the limit in the message, not JobFailed. Real kubelet, cgroups and OOM killer.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { cluster } from "./fixture.ts";
import { BackupEnv } from "./backup-restore/harness.ts";
import { mustRunToolbox } from "./support/toolbox.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const MiB = 1024 * 1024;

describe("restic's memory (real kubelet, cgroups, OOM killer)", function () {
  this.timeout(120_000);
  let env: BackupEnv;

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-memory-${id}`, `operator-memory-${id}`);
    await env.setUp();
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("main", "azure-secret", `/e2e/memory-${id}`);
    await env.pvc("source");
    // Random data does not deduplicate or compress: restic holds chunks and packs of it in memory.
    await mustRunToolbox(env.core, { namespace: env.ns, pvc: "source", name: "write", script: "head -c 100000000 /dev/urandom > /data/big" });
  });

  after(async function () {
    await env?.tearDown();
  });

  const limited = (memory: string) => ({ container: { resources: { requests: { memory }, limits: { memory } } } });

  it("fails a Job killed at a small memory limit with OutOfMemory and the limit, not JobFailed", async function () {
    await env.backupConfiguration("small", { repository: { name: "main" }, backupHistoryLimit: 5, runtimeSettings: limited("64Mi") }, "source");
    await env.backupSession("small-1", "small");
    const failed = await env.waitForPhase("backupsessions", "small-1", ["Failed"], 90_000);
    const c = failed.status?.conditions?.find((x) => x.type === "Completed");
    assert.equal(c?.reason, "OutOfMemory", JSON.stringify(c));
    assert.match(c?.message ?? "", /memory limit.*64Mi|64 MiB/, c?.message);
    assert.match(c?.message ?? "", /raise runtimeSettings\.container\.resources\.limits\.memory/);
  });

  it("gives restic the container's limit, less the wrapper's share, as GOMEMLIMIT", async function () {
    await env.backupConfiguration("roomy", { repository: { name: "main" }, backupHistoryLimit: 5, runtimeSettings: limited("512Mi") }, "source");
    await env.backupSession("roomy-1", "roomy");
    await env.waitForPhase("backupsessions", "roomy-1", ["Succeeded"], 90_000);
    const log = await env.kubectl(["logs", "-n", env.ns, "job/roomy-1-backup"]);
    const line = log.split("\n").find((l) => l.includes("GOMEMLIMIT"));
    assert.ok(line, `the wrapper says what GOMEMLIMIT it gave restic:\n${log.slice(0, 2000)}`);
    const { gomemlimit, containerLimit } = JSON.parse(line) as { gomemlimit: number; containerLimit: number };
    assert.equal(containerLimit, 512 * MiB);
    assert.ok(gomemlimit >= 256 * MiB && gomemlimit <= 512 * MiB - 16 * MiB, `GOMEMLIMIT ${gomemlimit / MiB} MiB of 512`);
  });
});

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { clusterCgroupName, ensureCgroup, hierarchies, ownMemoryCgroup, procsFiles, removeSubtree } from "./cgroups.ts";
import { createBridge, linkExists, planNetwork } from "./network.ts";
import { etcdShmName, idsIn, idsInUse, sweepDeadClusters } from "./sweep.ts";

describe("sweeping what killed cluster runs left behind", function () {
  this.timeout(20_000);

  it("finds cluster ids in bridge, cgroup and tmpfs names, and nothing else", () => {
    const ids = idsIn(["lo", "docker0", planNetwork("a1b2c3", 120).bridge, "bsbrnothex"], ["blobstash-d4e5f6", "blobstash-x", "system.slice"], ["blobstash-etcd-0a0b0c", "other"]);
    assert.deepEqual([...ids].sort(), ["0a0b0c", "a1b2c3", "d4e5f6"]);
  });

  it("counts a cluster in use while a process belongs to it, by cgroup path or command line", () => {
    const proc = mkdtempSync(path.join(os.tmpdir(), "blobstash-proc-"));
    try {
      const pid = (n: number, cgroup: string, cmdline: string) => {
        mkdirSync(path.join(proc, String(n)));
        writeFileSync(path.join(proc, String(n), "cgroup"), cgroup);
        writeFileSync(path.join(proc, String(n), "cmdline"), cmdline);
      };
      pid(10, "4:memory:/user.slice/blobstash-abc123/blobstash-node-1/kubepods\n", "kubelet\0--config\0x");
      pid(11, "4:memory:/\n", "etcd\0--data-dir\0/dev/shm/blobstash-etcd-def456");
      pid(12, "4:memory:/\n", "sh\0blobstash-abc1234");
      mkdirSync(path.join(proc, "self"));
      assert.deepEqual([...idsInUse(proc)].sort(), ["abc123", "def456"]);
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });

  it("removes a dead cluster's bridge, cgroups and etcd data, and keeps a live one's (real bridges and cgroups)", async () => {
    const records = mkdtempSync(path.join(os.tmpdir(), "blobstash-sweep-"));
    const shm = mkdtempSync(path.join(os.tmpdir(), "blobstash-sweep-shm-"));
    mkdirSync(path.join(records, "holders"));
    const base = ownMemoryCgroup(readFileSync("/proc/self/cgroup", "utf8"));
    // Dead: its holder's process is gone. Held: its holder runs. Busy: no holder, but a process in its cgroup.
    const [dead, held, busy] = ["fd0001", "fd0002", "fd0003"];
    const gone = spawn("true");
    await new Promise((r) => gone.on("exit", r));
    writeFileSync(path.join(records, "holders", dead!), `${gone.pid}\n`);
    writeFileSync(path.join(records, "holders", held!), `${process.pid}\n`);
    const sleeper = spawn("sleep", ["60"]);
    try {
      for (const [i, id] of [dead!, held!, busy!].entries()) {
        await createBridge(planNetwork(id, 250 + i));
        ensureCgroup(path.posix.join(base, clusterCgroupName(id)));
        mkdirSync(path.join(shm, etcdShmName(id)));
      }
      for (const f of procsFiles(path.posix.join(base, clusterCgroupName(busy!)))) writeFileSync(f, `${sleeper.pid}\n`);

      // `only`: this test must not judge the clusters other runs on this machine may have up.
      const swept = await sweepDeadClusters({ recordDir: records, shm, only: [dead!, held!, busy!] });
      assert.deepEqual(swept, [dead!]);
      assert.equal(await linkExists(planNetwork(dead!, 0).bridge), false);
      assert.ok(hierarchies().every((h) => !existsSync(path.join(h, base, clusterCgroupName(dead!)))));
      assert.equal(existsSync(path.join(shm, etcdShmName(dead!))), false);
      for (const id of [held!, busy!]) {
        assert.equal(await linkExists(planNetwork(id, 0).bridge), true, id);
        assert.ok(existsSync(path.join(shm, etcdShmName(id))), id);
      }
    } finally {
      sleeper.kill("SIGKILL");
      await new Promise((r) => sleeper.on("exit", r));
      for (const id of [dead!, held!, busy!]) {
        await execa("ip", ["link", "del", planNetwork(id, 0).bridge], { reject: false });
        removeSubtree(path.posix.join(base, clusterCgroupName(id)));
      }
      rmSync(records, { recursive: true, force: true });
      rmSync(shm, { recursive: true, force: true });
    }
  });
});

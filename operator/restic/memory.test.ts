import assert from "node:assert/strict";
import { mkdtemp, mkdir, writeFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { oomKills, resticMemoryLimit } from "./memory.ts";

const MiB = 1024 * 1024;

describe("restic's memory in a Job", () => {
  it("gives restic the container's limit less the wrapper's share as GOMEMLIMIT", () => {
    assert.equal(resticMemoryLimit({ BLOBSTASH_MEMORY_LIMIT: String(512 * MiB) }, 60 * MiB), String(512 * MiB - 60 * MiB - 16 * MiB));
    // Never below half the limit, however large the wrapper.
    assert.equal(resticMemoryLimit({ BLOBSTASH_MEMORY_LIMIT: String(64 * MiB) }, 60 * MiB), String(32 * MiB));
    assert.equal(resticMemoryLimit({}, 60 * MiB), undefined, "no limit, no GOMEMLIMIT");
    assert.equal(resticMemoryLimit({ BLOBSTASH_MEMORY_LIMIT: "garbage" }, 0), undefined);
    assert.equal(resticMemoryLimit({ BLOBSTASH_MEMORY_LIMIT: String(64 * MiB), GOMEMLIMIT: "100MiB" }, 0), undefined, "a GOMEMLIMIT set by hand wins");
  });

  it("reads the kernel's OOM kills of the container's cgroup (v2, then v1)", async () => {
    const dir = await mkdtemp(join(tmpdir(), "cgroup-"));
    try {
      assert.equal(oomKills(dir), undefined);
      await mkdir(join(dir, "memory"));
      await writeFile(join(dir, "memory/memory.oom_control"), "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
      assert.equal(oomKills(dir), 2);
      await writeFile(join(dir, "memory.events"), "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n");
      assert.equal(oomKills(dir), 1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

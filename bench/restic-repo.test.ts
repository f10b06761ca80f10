import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { execa } from "execa";
import { resticBinary } from "../operator/restic/fixtures.ts";
import { newMasterKeys, repositoryFiles, snapshotFile } from "./restic-repo.ts";

describe("bench restic repositories (written without restic)", function () {
  this.timeout(30_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "bench-restic-repo-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("are listed by restic itself, every snapshot with its fields", async () => {
    const master = newMasterKeys();
    const files = [...repositoryFiles(master, "pw"), ...Array.from({ length: 3 }, (_, j) => snapshotFile(master, 7, j))];
    for (const sub of ["keys", "snapshots", "data", "index", "locks"]) await mkdir(path.join(dir, sub), { recursive: true });
    for (const f of files) await writeFile(path.join(dir, f.path), f.data);
    const { stdout } = await execa(resticBinary(), ["--repo", dir, "--no-lock", "--no-cache", "snapshots", "--json"], { env: { RESTIC_PASSWORD: "pw" } });
    const listed = JSON.parse(stdout) as Array<{ id: string; time: string; tags: string[]; hostname: string; summary?: { total_bytes_processed: number } }>;
    const ids = files.filter((f) => f.path.startsWith("snapshots/")).map((f) => f.path.slice("snapshots/".length));
    assert.deepEqual(listed.map((s) => s.id).sort(), [...ids].sort());
    assert.deepEqual(listed.map((s) => s.time).sort(), ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]);
    assert.ok(listed.every((s) => s.tags[0] === "bench/config-7" && s.hostname === "host-0"));
    assert.deepEqual(listed.map((s) => s.summary?.total_bytes_processed).sort(), [1_048_576, 2_097_152, 3_145_728]);
  });

  it("refuse a wrong password, as restic would", async () => {
    const r = await execa(resticBinary(), ["--repo", dir, "--no-lock", "--no-cache", "snapshots", "--json"], { env: { RESTIC_PASSWORD: "wrong" }, reject: false });
    assert.equal(r.exitCode, 12);
  });
});

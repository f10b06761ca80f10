// The operator's own reading of snapshot files against what restic itself lists, on a repository
// the pinned restic makes (format 2: compressed snapshot files).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resticBinary } from "./fixtures.ts";
import { openMasterKey, type MasterKey } from "./master-key.ts";
import { parseKeyFile } from "./password.ts";
import { parseSnapshotJson, readSnapshotFile } from "./snapshot-file.ts";

describe("readSnapshotFile", function () {
  this.timeout(60_000);
  let dir: string;
  let repo: string;
  let master: MasterKey;
  const env = { ...process.env, RESTIC_PASSWORD: "unit-test-password" };
  const restic = (...args: string[]) => execFileSync(resticBinary(), ["-r", repo, ...args], { env, encoding: "utf8" });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "snapfile-"));
    repo = join(dir, "repo");
    mkdirSync(join(dir, "data"));
    writeFileSync(join(dir, "data", "a"), "hello");
    restic("init", "-q");
    restic("backup", "-q", "--host", "host-0", "--tag", "demo/config", join(dir, "data"));
    restic("backup", "-q", "--host", "other", join(dir, "data"));
    const keyName = readdirSync(join(repo, "keys"))[0]!;
    master = (await openMasterKey("unit-test-password", parseKeyFile(readFileSync(join(repo, "keys", keyName)))))!;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("reads every snapshot as restic lists it (id, time, tree, paths, host, user, tags, size)", () => {
    const listed = JSON.parse(restic("snapshots", "--json")) as Array<Record<string, unknown> & { id: string; summary?: { total_bytes_processed: number } }>;
    const files = readdirSync(join(repo, "snapshots"));
    assert.equal(files.length, listed.length);
    for (const want of listed) {
      const read = readSnapshotFile(want.id, readFileSync(join(repo, "snapshots", want.id)), master);
      assert.ok(read.ok, `snapshot ${want.id}: ${!read.ok && read.problem}`);
      const s = read.snapshot;
      assert.deepEqual(
        [s.tree, s.paths, s.hostname, s.username, s.tags, s.bytesProcessed, Date.parse(s.time) / 1000],
        [want.tree, want.paths, want.hostname, want.username, (want.tags as string[] | undefined) ?? [], want.summary?.total_bytes_processed, Math.floor(Date.parse(want.time as string) / 1000)],
        `snapshot ${want.id} as the operator reads it`,
      );
    }
  });

  it("refuses a file that does not hash to its name, or that another key sealed", async () => {
    const id = readdirSync(join(repo, "snapshots"))[0]!;
    const content = readFileSync(join(repo, "snapshots", id));
    const other = readSnapshotFile("0".repeat(64), content, master);
    assert.equal(other.ok, false);
    const wrongKey = { ...master, macK: Buffer.alloc(16, 1) };
    const r = readSnapshotFile(id, content, wrongKey);
    assert.deepEqual(r, { ok: false, problem: "the repository's key does not open it" });
  });

  it("keeps only well-typed fields of hostile JSON", () => {
    const r = parseSnapshotJson("a".repeat(64), { time: "2026-01-01T00:00:00.123456789Z", tree: "b".repeat(64), paths: [1, "/x"], uid: -1, gid: 2 ** 40, hostname: { x: 1 }, tags: "t" });
    assert.ok(r.ok);
    assert.deepEqual([r.snapshot.time, r.snapshot.paths, r.snapshot.uid, r.snapshot.gid, r.snapshot.hostname, r.snapshot.tags], ["2026-01-01T00:00:00Z", ["/x"], 0, 0, "", []]);
    assert.equal(parseSnapshotJson("a".repeat(64), { tree: "b".repeat(64) }).ok, false, "no time: not a snapshot");
    const huge = parseSnapshotJson("a".repeat(64), { time: "2026-01-01T00:00:00Z", tree: "b".repeat(64), paths: Array.from({ length: 200 }, () => "p".repeat(4000)) });
    assert.equal(huge.ok, false, "a snapshot whose fields are huge is not kept (the operator keeps every snapshot in memory)");
  });
});

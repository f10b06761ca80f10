// The wrapper end to end with the real restic against a local-directory repository: backup (init,
// unlock, backup, retention, stats), restore, and the failures a Job must report.

import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { parseJobResult, TERMINATION_MESSAGE_LIMIT, type JobResult } from "../api/result.ts";
import { setLogLevel } from "../observability/logger.ts";
import { deadlineMargin, forceKillAfterMs, runWrapper, stopAfterMs } from "./cli.ts";
import { fixture, resticBinary } from "./fixtures.ts";

interface Entry {
  path: string;
  type: "file" | "dir" | "symlink";
  mode: number;
  sha256?: string;
  target?: string;
  mtimeMs?: number;
}

/** Everything restic should keep: type, permission bits, content, symlink target, file mtimes. */
async function manifest(root: string, rel = ""): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const name of (await readdir(join(root, rel))).sort()) {
    const path = rel ? `${rel}/${name}` : name;
    const full = join(root, path);
    const st = await lstat(full);
    const mode = st.mode & 0o7777;
    if (st.isSymbolicLink()) out.push({ path, type: "symlink", mode, target: await readlink(full) });
    else if (st.isDirectory()) out.push({ path, type: "dir", mode }, ...(await manifest(root, path)));
    else out.push({ path, type: "file", mode, sha256: createHash("sha256").update(await readFile(full)).digest("hex"), mtimeMs: st.mtimeMs });
  }
  return out;
}

/** Waits for a complete lock file: named by its content's hash, not empty (restic skips empty ones). */
async function waitForLock(locks: string): Promise<void> {
  for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 5))) {
    for (const name of await readdir(locks).catch(() => [])) {
      if (/^[0-9a-f]{64}$/.test(name) && (await lstat(join(locks, name)).catch(() => undefined))?.size) return;
    }
  }
  throw new Error(`no lock appeared in ${locks}`);
}

async function readResult(file: string): Promise<JobResult> {
  const text = await readFile(file, "utf8");
  assert.ok(Buffer.byteLength(text) <= TERMINATION_MESSAGE_LIMIT);
  const parsed = parseJobResult(text);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.error);
  return parsed.result;
}

describe("restic wrapper (real restic, local repository)", function () {
  this.timeout(120_000);
  let dir: string;
  let src: string;
  let repo: string;
  let cache: string;
  let restic: string;
  const savedEnv = { ...process.env };

  const common = (resultFile: string) => ["--repo", repo, "--cache-dir", cache, "--result-file", resultFile, "--restic", restic];
  const backup = (resultFile: string, ...extra: string[]) =>
    runWrapper([
      "backup",
      ...common(resultFile),
      "--source",
      src,
      "--exclude",
      "*.tmp",
      "--exclude",
      `${src}/cache`,
      "--host",
      "host-0",
      "--tag",
      "demo/nightly",
      "--keep-last",
      "2",
      "--prune",
      "--progress-interval",
      "1s",
      ...extra,
    ]);

  before(async () => {
    if (!process.env.BLOBSTASH_TEST_LOGS) setLogLevel("error");
    restic = resticBinary();
    dir = await mkdtemp(join(tmpdir(), "blobstash-wrapper-"));
    src = join(dir, "volume");
    repo = join(dir, "repo");
    cache = join(dir, "scratch", "cache");
    process.env.RESTIC_PASSWORD = "wrapper-test-password";
    process.env.TMPDIR = join(dir, "scratch", "tmp");

    // A mixed tree: empty and large files, many small ones, unicode names, symlinks, nesting, modes.
    await mkdir(join(src, "nested/deeper/deepest"), { recursive: true });
    await mkdir(join(src, "many"));
    await mkdir(join(src, "cache"));
    await writeFile(join(src, "empty"), "");
    await writeFile(join(src, "big.bin"), randomBytes(6 * 1024 * 1024));
    for (let i = 0; i < 150; i++) await writeFile(join(src, "many", `f${i}.txt`), `file ${i}\n`);
    await writeFile(join(src, "ünïcödé ✓.txt"), "unicode\n");
    await writeFile(join(src, "nested/deeper/deepest/leaf"), "leaf\n");
    await writeFile(join(src, "script.sh"), "#!/bin/sh\necho hi\n");
    await chmod(join(src, "script.sh"), 0o755);
    await writeFile(join(src, "private"), "secret-ish\n");
    await chmod(join(src, "private"), 0o600);
    await chmod(join(src, "nested/deeper"), 0o750);
    await symlink("nested/deeper/deepest/leaf", join(src, "link-to-leaf"));
    await symlink("/does/not/exist", join(src, "dangling"));
    await writeFile(join(src, "scratch.tmp"), "excluded by pattern\n");
    await writeFile(join(src, "cache/blob"), "excluded by anchored path\n");
  });

  after(async () => {
    setLogLevel(process.env.BLOBSTASH_LOG_LEVEL ?? "info");
    for (const key of ["RESTIC_PASSWORD", "TMPDIR", "AZURE_ACCOUNT_SAS"]) {
      if (savedEnv[key] === undefined) delete process.env[key];
      else process.env[key] = savedEnv[key];
    }
    await rm(dir, { recursive: true, force: true });
  });

  let lastSnapshot = "";

  it("initializes the repository and backs up, reporting real figures", async () => {
    const rf = join(dir, "result-1.json");
    assert.equal(await backup(rf), 0);
    const r = await readResult(rf);
    assert.equal(r.action, "backup");
    assert.equal(r.outcome, "Succeeded");
    assert.equal(r.reason, "Succeeded");
    assert.equal(r.initialized, true);
    assert.match(r.snapshot?.id ?? "", /^[0-9a-f]{64}$/);
    assert.equal(r.snapshot?.host, "host-0");
    // empty, big.bin, 150 small, unicode, leaf, script, private; restic does not count the two
    // symlinks as files, and scratch.tmp and cache/ are excluded.
    assert.equal(r.backup?.filesNew, 156);
    assert.ok((r.backup?.totalBytesProcessed ?? 0) >= 6 * 1024 * 1024);
    assert.ok((r.backup?.dataAddedPacked ?? 0) > 6 * 1024 * 1024 * 0.9);
    assert.deepEqual(r.retention && { kept: r.retention.kept, removed: r.retention.removed, pruned: r.retention.pruned }, { kept: 1, removed: 0, pruned: true });
    assert.equal(r.repository?.snapshotCount, 1);
    assert.ok((r.repository?.totalSize ?? 0) > 6 * 1024 * 1024 * 0.9);
    lastSnapshot = r.snapshot!.id;
  });

  it("backs up incrementally and applies retention (keep-last 2)", async () => {
    await writeFile(join(src, "many", "f1.txt"), "changed\n");
    const rf2 = join(dir, "result-2.json");
    assert.equal(await backup(rf2), 0);
    const r2 = await readResult(rf2);
    assert.equal(r2.initialized, undefined);
    assert.equal(r2.backup?.filesChanged, 1);
    assert.equal(r2.backup?.filesNew, 0);
    assert.equal(r2.repository?.snapshotCount, 2);

    await writeFile(join(src, "new-file"), "new\n");
    const rf3 = join(dir, "result-3.json");
    assert.equal(await backup(rf3), 0);
    const r3 = await readResult(rf3);
    assert.equal(r3.backup?.filesNew, 1);
    assert.equal(r3.retention?.kept, 2);
    assert.equal(r3.retention?.removed, 1);
    assert.deepEqual(r3.retention?.removedIds, [lastSnapshot.slice(0, 8)]);
    assert.equal(r3.repository?.snapshotCount, 2);
    lastSnapshot = r3.snapshot!.id;
  });

  it("backs up past a stale exclusive lock: the backup stops with locked, stale locks are removed, it runs again", async () => {
    // A prune killed while it held its exclusive lock: the lock's process is gone from this host.
    const prune = execa(restic, ["-r", repo, "--cache-dir", cache, "prune"], { reject: false });
    await waitForLock(join(repo, "locks"));
    prune.kill("SIGKILL");
    await prune;
    assert.equal((await readdir(join(repo, "locks"))).length, 1);

    // The real restic, each call and its exit code recorded.
    const calls = join(dir, "calls.log");
    const stub = join(dir, "recording-restic");
    await writeFile(stub, `#!/bin/sh\n"${restic}" "$@"; code=$?\necho "$1 $code" >> "${calls}"\nexit $code\n`);
    await chmod(stub, 0o755);
    const rf = join(dir, "result-locked.json");
    assert.equal(await backup(rf, "--restic", stub), 0);
    const r = await readResult(rf);
    assert.equal(r.outcome, "Succeeded", r.message);
    assert.equal(r.backup?.filesNew, 0);
    assert.equal(r.repository?.snapshotCount, 2);
    assert.deepEqual((await readFile(calls, "utf8")).trim().split("\n"), ["backup 11", "unlock 0", "backup 0", "forget 0", "stats 0"]);
    assert.deepEqual(await readdir(join(repo, "locks")), []);
    lastSnapshot = r.snapshot!.id;
  });

  it("restores the latest snapshot byte for byte, with modes and symlinks", async () => {
    const target = join(dir, "restored");
    const rf = join(dir, "restore-1.json");
    assert.equal(await runWrapper(["restore", ...common(rf), "--target", target, "--snapshot", "latest"]), 0);
    const r = await readResult(rf);
    assert.equal(r.action, "restore");
    assert.equal(r.outcome, "Succeeded");
    assert.equal(r.snapshot?.id, lastSnapshot);
    assert.equal(r.restore?.filesRestored, r.restore?.totalFiles);
    assert.ok((r.restore?.bytesRestored ?? 0) >= 6 * 1024 * 1024);
    const expected = (await manifest(src)).filter((e) => e.path !== "scratch.tmp" && e.path !== "cache" && !e.path.startsWith("cache/"));
    assert.deepEqual(await manifest(target), expected);
  });

  it("restores only what include patterns select, from a snapshot named by id prefix", async () => {
    const target = join(dir, "partial");
    const rf = join(dir, "restore-2.json");
    assert.equal(await runWrapper(["restore", ...common(rf), "--target", target, "--snapshot", lastSnapshot.slice(0, 10), "--include", "/nested"]), 0);
    const r = await readResult(rf);
    assert.equal(r.snapshot?.id, lastSnapshot);
    const paths = (await manifest(target)).map((e) => e.path);
    assert.deepEqual(paths, ["nested", "nested/deeper", "nested/deeper/deepest", "nested/deeper/deepest/leaf"]);
  });

  it("reports a snapshot that does not exist as SnapshotNotFound", async () => {
    const rf = join(dir, "restore-missing.json");
    assert.equal(await runWrapper(["restore", ...common(rf), "--target", join(dir, "nowhere"), "--snapshot", "deadbeef"]), 1);
    const r = await readResult(rf);
    assert.equal(r.outcome, "Failed");
    assert.equal(r.reason, "SnapshotNotFound");
    assert.equal(r.step, "resolve");
    assert.match(r.message ?? "", /deadbeef/);
  });

  it("reports a full snapshot id that does not exist as SnapshotNotFound (resolved while restoring), writing nothing", async () => {
    const rf = join(dir, "restore-missing-full.json");
    const target = join(dir, "nothing-here");
    const missing = "0".repeat(64);
    assert.equal(await runWrapper(["restore", ...common(rf), "--target", target, "--snapshot", missing]), 1);
    const r = await readResult(rf);
    assert.equal(r.reason, "SnapshotNotFound");
    assert.equal(r.step, "resolve");
    assert.match(r.message ?? "", new RegExp(missing));
    assert.deepEqual(await readdir(target), []);
  });

  it("restores a snapshot named by its full id, resolved while restoring", async () => {
    const target = join(dir, "by-full-id");
    const rf = join(dir, "restore-full-id.json");
    assert.equal(await runWrapper(["restore", ...common(rf), "--target", target, "--snapshot", lastSnapshot, "--include", "/nested"]), 0);
    const r = await readResult(rf);
    assert.equal(r.snapshot?.id, lastSnapshot);
    assert.equal((await manifest(target)).length, 4);
  });

  it("restores from a shared repository only the snapshots of the namespace it is told, newest of those for latest", async () => {
    const rf = join(dir, "other-backup.json");
    assert.equal(await runWrapper(["backup", ...common(rf), "--source", src, "--host", "host-0", "--tag", "other/nightly"]), 0);
    const other = (await readResult(rf)).snapshot!.id;
    const scoped = (file: string, target: string, snapshot: string, namespace: string) =>
      runWrapper(["restore", ...common(join(dir, file)), "--target", join(dir, target), "--snapshot", snapshot, "--snapshot-namespace", namespace, "--include", "/nested"]);

    assert.equal(await scoped("ns-latest.json", "ns-latest", "latest", "demo"), 0);
    assert.equal((await readResult(join(dir, "ns-latest.json"))).snapshot?.id, lastSnapshot, "demo's newest, not the newer snapshot of namespace other");
    assert.equal(await scoped("ns-own.json", "ns-own", other.slice(0, 12), "other"), 0);
    assert.equal((await readResult(join(dir, "ns-own.json"))).snapshot?.id, other);

    assert.equal(await scoped("ns-foreign.json", "ns-foreign", other, "demo"), 1);
    const foreign = await readResult(join(dir, "ns-foreign.json"));
    assert.equal(foreign.reason, "SnapshotNotInNamespace");
    assert.match(foreign.message ?? "", /not taken by a backup of namespace demo.*snapshots\.from: All/);
    assert.deepEqual(await readdir(join(dir, "ns-foreign")), [], "nothing restored");

    assert.equal(await scoped("ns-none.json", "ns-none", "latest", "nobody"), 1);
    const none = await readResult(join(dir, "ns-none.json"));
    assert.equal(none.reason, "SnapshotNotFound");
    assert.match(none.message ?? "", /no snapshot of namespace nobody/);
  });

  it("reports a wrong password as WrongPassword, with no snapshot made", async () => {
    process.env.RESTIC_PASSWORD = "not-the-password";
    try {
      const rf = join(dir, "wrong-password.json");
      assert.equal(await backup(rf), 1);
      const r = await readResult(rf);
      assert.equal(r.outcome, "Failed");
      assert.equal(r.reason, "WrongPassword");
      assert.equal(r.step, "backup");
      assert.equal(r.exitCode, 12);
      assert.equal(r.snapshot, undefined);
      assert.doesNotMatch(await readFile(rf, "utf8"), /not-the-password/);
    } finally {
      process.env.RESTIC_PASSWORD = "wrapper-test-password";
    }
  });

  it("reports a missing source directory as PathNotFound", async () => {
    const rf = join(dir, "no-source.json");
    const code = await runWrapper(["backup", ...common(rf), "--source", join(dir, "no-such-volume")]);
    assert.equal(code, 1);
    const r = await readResult(rf);
    assert.equal(r.reason, "PathNotFound");
    assert.equal(r.step, "prepare");
  });

  it("reports a bad command line as InvalidArguments and exits 2", async () => {
    const rf = join(dir, "bad-args.json");
    assert.equal(await runWrapper(["backup", "--result-file", rf, "--repo", repo, "--source", "relative/dir"]), 2);
    const r = await readResult(rf);
    assert.equal(r.reason, "InvalidArguments");
    assert.match(r.message ?? "", /--source "relative\/dir" must be an absolute path/);
  });

  it("stops restic before the timeout and names the network failure it was retrying, without the SAS", async () => {
    // A stand-in restic that replays what the pinned restic printed while its endpoint refused
    // connections (testdata/network-refused.stderr), then keeps retrying until interrupted.
    const stub = join(dir, "stuck-restic");
    const replay = fixture("network-refused.stderr").split("signal interrupt")[0]!;
    await writeFile(join(dir, "replay.txt"), replay);
    await writeFile(
      stub,
      `#!/bin/sh\ncat "${join(dir, "replay.txt")}" >&2\ntrap 'echo "{\\"message_type\\":\\"exit_error\\",\\"code\\":130,\\"message\\":\\"Fatal: unable to open config file: context canceled\\"}" >&2; exit 130' INT\nwhile :; do sleep 0.1; done\n`,
    );
    await chmod(stub, 0o755);
    process.env.AZURE_ACCOUNT_SAS = "sv=2025-11-05&sp=rl&sig=c2VjcmV0";
    const rf = join(dir, "timeout.json");
    const started = Date.now();
    // 6 s timeout, 5 s margin: restic is stopped after about a second.
    const code = await runWrapper(["backup", "--repo", "azure:backups:/demo", "--source", src, "--result-file", rf, "--restic", stub, "--timeout", "6s"]);
    delete process.env.AZURE_ACCOUNT_SAS;
    assert.equal(code, 1);
    assert.ok(Date.now() - started < 5_000);
    const text = await readFile(rf, "utf8");
    assert.doesNotMatch(text, /c2VjcmV0/);
    const r = await readResult(rf);
    assert.equal(r.reason, "NetworkError");
    assert.equal(r.step, "backup");
    assert.match(r.message ?? "", /stopped before the Job's timeOut.*connection refused/s);
  });

  it("kills restic that ignores SIGINT in time to write the result before the deadline", async () => {
    // restic with an unreachable endpoint keeps retrying its lock removal after SIGINT.
    const stub = join(dir, "deaf-restic");
    await writeFile(stub, `#!/bin/sh\ntrap '' INT\nwhile :; do sleep 0.1; done\n`);
    await chmod(stub, 0o755);
    const rf = join(dir, "deaf.json");
    const started = Date.now();
    // 6 s timeout, 5 s margin, 0.5 s spent starting up: SIGINT after 0.5 s, SIGKILL 2.5 s later.
    const code = await runWrapper(["backup", "--repo", "azure:backups:/demo", "--source", src, "--result-file", rf, "--restic", stub, "--timeout", "6s"], { startedAtMs: Date.now() - 500 });
    const took = Date.now() - started;
    assert.equal(code, 1);
    assert.ok(took >= 2_500 && took < 5_500, `result after ${took} ms: before the 6 s deadline minus the startup`);
    const r = await readResult(rf);
    assert.equal(r.reason, "Timeout");
    assert.equal(r.step, "backup");
  });

  it("counts the timeOut from --deadline, not from its own start: a slow pod start comes out of it", async () => {
    const stub = join(dir, "slow-restic");
    await writeFile(stub, `#!/bin/sh\nwhile :; do sleep 0.1; done\n`);
    await chmod(stub, 0o755);
    const rf = join(dir, "late.json");
    const started = Date.now();
    // The Job was created 5.5 s ago with a 10 s timeOut (5 s margin): restic must be stopped at once.
    const deadline = new Date(started + 4_500).toISOString();
    const code = await runWrapper(["backup", "--repo", "azure:backups:/demo", "--source", src, "--result-file", rf, "--restic", stub, "--timeout", "10s", "--deadline", deadline]);
    const took = Date.now() - started;
    assert.equal(code, 1);
    assert.ok(took < 4_000, `result after ${took} ms, before the Job's deadline`);
    assert.equal((await readResult(rf)).reason, "Timeout");
  });

  it("keeps a margin before the deadline, counting the wrapper's own startup", () => {
    assert.equal(deadlineMargin(30 * 60_000), 60_000);
    assert.equal(deadlineMargin(5 * 60_000), 30_000);
    assert.equal(deadlineMargin(20_000), 5_000);
    assert.equal(deadlineMargin(4_000), 2_000);
    assert.equal(stopAfterMs(20_000, 1_020_000, 1_000_000), 15_000);
    assert.equal(stopAfterMs(20_000, 1_020_000, 1_004_000), 11_000);
    assert.equal(stopAfterMs(20_000, 1_020_000, 1_030_000), 0);
    assert.equal(forceKillAfterMs(30 * 60_000), 15_000);
    assert.equal(forceKillAfterMs(20_000), 2_500);
  });
});

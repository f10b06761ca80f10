// restic 0.19 against the cluster's Azurite over TLS, through the CONNECT proxy, with the variables a
// shell gets from `. .local/env`: init, backup, snapshots --json, restore, and a byte-identical tree.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { cluster } from "./fixture.ts";

interface Entry {
  type: "file" | "dir" | "symlink";
  mode: number;
  sha256?: string;
  target?: string;
}

/** Every entry under root by relative path: type, permission bits, content hash or link target. */
async function snapshotTree(root: string): Promise<Record<string, Entry>> {
  const out: Record<string, Entry> = {};
  async function walk(rel: string): Promise<void> {
    for (const name of await readdir(path.join(root, rel))) {
      const relPath = path.join(rel, name);
      const abs = path.join(root, relPath);
      const st = await lstat(abs);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) out[relPath] = { type: "symlink", mode: 0, target: await readlink(abs) };
      else if (st.isDirectory()) {
        out[relPath] = { type: "dir", mode };
        await walk(relPath);
      } else out[relPath] = { type: "file", mode, sha256: createHash("sha256").update(await readFile(abs)).digest("hex") };
    }
  }
  await walk("");
  return out;
}

describe("local cluster: restic against Azurite over TLS", function () {
  this.timeout(120_000);
  let work: string;
  let src: string;
  const repo = `azure:e2e-restic-${randomBytes(4).toString("hex")}:/team/repo`;

  const restic = (args: string[]) => {
    const az = cluster().azurite;
    return execa("restic", ["--no-cache", "-r", repo, ...args], {
      // process.env carries PATH, HTTPS_PROXY, NO_PROXY, RESTIC_CACERT and SSL_CERT_FILE from the fixture.
      env: { AZURE_ACCOUNT_NAME: az.account, AZURE_ACCOUNT_KEY: az.key, AZURE_ENDPOINT_SUFFIX: az.endpointSuffix, RESTIC_PASSWORD: "e2e-password" },
    });
  };

  before(async function () {
    work = await mkdtemp(path.join(os.tmpdir(), "blobstash-restic-"));
    src = path.join(work, "src");
    await mkdir(path.join(src, "nested/deeper"), { recursive: true });
    await writeFile(path.join(src, "hello.txt"), "hello, azure\n");
    await writeFile(path.join(src, "empty"), "");
    await writeFile(path.join(src, "nested/random.bin"), randomBytes(3 * 1024 * 1024 + 17));
    await writeFile(path.join(src, "nested/deeper/ünïcode name.txt"), "ü\n");
    await writeFile(path.join(src, "run.sh"), "#!/bin/sh\necho ok\n");
    await chmod(path.join(src, "run.sh"), 0o755);
    await writeFile(path.join(src, "nested/secret"), "private\n");
    await chmod(path.join(src, "nested/secret"), 0o600);
    await chmod(path.join(src, "nested/deeper"), 0o750);
    await symlink("../hello.txt", path.join(src, "nested/link"));
  });

  after(async function () {
    await rm(work, { recursive: true, force: true });
  });

  it("uses restic ≥ 0.18 from the pinned tools", async function () {
    const { stdout } = await execa("restic", ["version"]);
    const [, minor] = /restic 0\.(\d+)\./.exec(stdout) ?? [];
    assert.ok(Number(minor) >= 18, stdout);
  });

  it("inits a repository, backs up a tree, lists the snapshot and restores it byte-identical", async function () {
    const proxyLogFile = path.join(cluster().dir, "logs", "proxy.log");
    const proxyLogBefore = (await readFile(proxyLogFile, "utf8")).length;
    const init = await restic(["init"]);
    assert.match(init.stdout, /created restic repository \w+ at azure:/);
    // restic (Go) did not skip the proxy for *.localhost: Go only bypasses it for "localhost" and loopback IPs.
    const proxyLog = (await readFile(proxyLogFile, "utf8")).slice(proxyLogBefore);
    assert.ok(proxyLog.includes(`tunnel ${cluster().azurite.account}.blob.${cluster().azurite.endpointSuffix} ->`), "restic went through the proxy");

    const backup = await restic(["backup", "--json", src]);
    const summary = backup.stdout.split("\n").filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((m) => m.message_type === "summary");
    assert.ok(summary, "backup printed a summary");
    assert.equal(summary.files_new, 6);
    const snapshotId = summary.snapshot_id as string;

    const snapshots = JSON.parse((await restic(["snapshots", "--json"])).stdout) as { id: string; paths: string[] }[];
    assert.equal(snapshots.length, 1);
    assert.equal(snapshots[0]!.id, snapshotId);
    assert.deepEqual(snapshots[0]!.paths, [src]);

    const target = path.join(work, "restored");
    await restic(["restore", `${snapshotId}:${src}`, "--target", target]);
    const [want, got] = await Promise.all([snapshotTree(src), snapshotTree(target)]);
    assert.equal(Object.keys(want).length, 9);
    assert.deepEqual(got, want);
  });

  it("lands the repository as blobs under the prefix in the container", async function () {
    const { stdout } = await restic(["cat", "config"]);
    assert.ok((JSON.parse(stdout) as { version?: number }).version! >= 1);
    // A wrong password is restic's exit code 12, proving the repository really is the one just written.
    const wrong = await execa("restic", ["--no-cache", "-r", repo, "snapshots"], {
      env: {
        AZURE_ACCOUNT_NAME: cluster().azurite.account, AZURE_ACCOUNT_KEY: cluster().azurite.key,
        AZURE_ENDPOINT_SUFFIX: cluster().azurite.endpointSuffix, RESTIC_PASSWORD: "not-it",
      },
      reject: false,
    });
    assert.equal(wrong.exitCode, 12, wrong.stderr);
  });
});

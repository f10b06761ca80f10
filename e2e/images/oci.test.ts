import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { indexRefs, MEDIA_TYPES, readIndex, writeOciArchive, type ImageSpec } from "./oci.ts";
import type { TarEntry } from "./tar.ts";

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const tar = (args: string[]) => execFileSync("tar", args, { encoding: "utf8", env: { ...process.env, TZ: "UTC" } });

describe("OCI image archive", () => {
  let dir: string;
  let hostFile: string;
  const longPath = `app/${"deep/".repeat(30)}file.txt`;
  const longTarget = `/${"target/".repeat(20)}end`;

  const spec = (entries: TarEntry[]): ImageSpec => ({
    refs: ["localhost/test:one", "localhost/test:two"],
    config: {
      user: "65532:65532",
      entrypoint: ["/bin/tool"],
      cmd: ["run"],
      env: { HOME: "/tmp", NODE_ENV: "production" },
      workingDir: "/app",
      labels: { purpose: "test" },
    },
    layers: [entries, [{ type: "file", path: "/usr/local/bin/tool", content: Buffer.from("#!tool\n"), mode: 0o755 }]],
  });
  const entries = (): TarEntry[] => [
    { type: "dir", path: "/tmp", mode: 0o1777 },
    { type: "file", path: "/etc/hostfile", content: hostFile },
    { type: "file", path: longPath, content: Buffer.from("long\n"), uid: 65532, gid: 65532 },
    { type: "symlink", path: "/usr/bin/far", target: longTarget },
    { type: "symlink", path: "bin", target: "usr/bin" },
  ];

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), "oci-test-"));
    hostFile = path.join(dir, "hostfile");
    writeFileSync(hostFile, "from the host\n");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function extract(archive: string): string {
    const out = path.join(dir, `x-${path.basename(archive)}`);
    mkdirSync(out);
    tar(["-xf", archive, "-C", out]);
    return out;
  }
  const readJson = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;

  it("is an OCI layout whose blobs are named by their digests and wired index -> manifest -> config, layers", async () => {
    const archive = path.join(dir, "image.tar");
    const written = await writeOciArchive(archive, spec(entries()));
    const root = extract(archive);

    assert.deepEqual(readJson(path.join(root, "oci-layout")), { imageLayoutVersion: "1.0.0" });
    const blobs = path.join(root, "blobs/sha256");
    for (const name of readdirSync(blobs)) assert.equal(sha256(readFileSync(path.join(blobs, name))), name, `blob ${name}`);
    const blob = (digest: string) => readFileSync(path.join(blobs, digest.replace(/^sha256:/, "")));

    const index = readJson(path.join(root, "index.json")) as { mediaType: string; manifests: Record<string, unknown>[] };
    assert.equal(index.mediaType, MEDIA_TYPES.index);
    assert.deepEqual(
      index.manifests.map((m) => m.annotations),
      ["localhost/test:one", "localhost/test:two"].map((ref) => ({ "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref })),
    );
    for (const m of index.manifests) {
      assert.deepEqual(m.platform, { architecture: "amd64", os: "linux" });
      assert.equal(m.digest, written.manifest.digest);
      assert.equal(m.size, blob(written.manifest.digest).length);
      assert.equal(m.mediaType, MEDIA_TYPES.manifest);
    }

    assert.deepEqual(await readIndex(archive), index, "read back from the archive without unpacking it");
    assert.deepEqual(indexRefs(await readIndex(archive)), new Map([["localhost/test:one", written.manifest.digest], ["localhost/test:two", written.manifest.digest]]));

    const manifest = JSON.parse(blob(written.manifest.digest).toString()) as { config: { digest: string; size: number; mediaType: string }; layers: { digest: string; size: number; mediaType: string }[] };
    assert.equal(manifest.config.mediaType, MEDIA_TYPES.config);
    assert.equal(manifest.config.size, blob(manifest.config.digest).length);
    assert.equal(manifest.layers.length, 2);
    for (const l of manifest.layers) {
      assert.equal(l.mediaType, MEDIA_TYPES.layer);
      assert.equal(l.size, blob(l.digest).length);
    }

    const config = JSON.parse(blob(manifest.config.digest).toString()) as Record<string, unknown>;
    assert.equal(config.architecture, "amd64");
    assert.equal(config.os, "linux");
    assert.deepEqual(config.config, {
      User: "65532:65532",
      Env: ["HOME=/tmp", "NODE_ENV=production"],
      Entrypoint: ["/bin/tool"],
      Cmd: ["run"],
      WorkingDir: "/app",
      Labels: { purpose: "test" },
    });
    // Uncompressed layers: the diff id is the layer's own digest.
    assert.deepEqual(config.rootfs, { type: "layers", diff_ids: manifest.layers.map((l) => l.digest) });
  });

  it("writes layers that GNU tar reads back with owners, modes, long names, link targets and content", async () => {
    const archive = path.join(dir, "image.tar");
    const written = await writeOciArchive(archive, spec(entries()));
    const layer = path.join(extract(archive), "blobs/sha256", written.layers[0]!.digest.slice(7));
    const listing = tar(["--numeric-owner", "-tvf", layer]).trim().split("\n");
    const line = (name: string) => {
      const found = listing.find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `));
      assert.ok(found, `${name} in\n${listing.join("\n")}`);
      return found.replace(/\s+/g, " ");
    };
    assert.match(line("tmp/"), /^drwxrwxrwt 0\/0 0 1970-01-01 00:00 tmp\/$/);
    assert.match(line("etc/"), /^drwxr-xr-x 0\/0 0 1970-01-01 00:00 etc\/$/, "parent directories are added");
    assert.match(line("etc/hostfile"), /^-rw-r--r-- 0\/0 14 1970-01-01 00:00 etc\/hostfile$/);
    assert.match(line(longPath), new RegExp(`^-rw-r--r-- 65532/65532 5 1970-01-01 00:00 ${longPath}$`));
    assert.equal(line("usr/bin/far"), `lrwxrwxrwx 0/0 0 1970-01-01 00:00 usr/bin/far -> ${longTarget}`);
    assert.equal(line("bin"), "lrwxrwxrwx 0/0 0 1970-01-01 00:00 bin -> usr/bin");
    const names = listing.map((l) => l.replace(/ -> .*$/, "").split(/\s+/).at(-1)!);
    assert.deepEqual(names, [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))), "sorted by name");

    const out = path.join(dir, "layer");
    mkdirSync(out);
    tar(["-xf", layer, "-C", out]);
    assert.equal(readFileSync(path.join(out, "etc/hostfile"), "utf8"), "from the host\n");
    assert.equal(readFileSync(path.join(out, longPath), "utf8"), "long\n");
  });

  it("gives the same bytes for the same content, whatever the file times and the order entries come in", async () => {
    const a = path.join(dir, "a.tar");
    const b = path.join(dir, "b.tar");
    const first = await writeOciArchive(a, spec(entries()));
    utimesSync(hostFile, new Date("2020-01-01"), new Date("2021-02-03"));
    const second = await writeOciArchive(b, spec(entries().reverse()));
    assert.deepEqual(second, first);
    assert.ok(readFileSync(a).equals(readFileSync(b)));

    writeFileSync(hostFile, "changed on the host\n");
    const third = await writeOciArchive(b, spec(entries()));
    assert.notEqual(third.layers[0]!.digest, first.layers[0]!.digest);
    assert.equal(third.layers[1]!.digest, first.layers[1]!.digest, "an unchanged layer keeps its digest");
    assert.notEqual(third.manifest.digest, first.manifest.digest);
  });

  it("refuses entries whose meaning would depend on order or escape the root", async () => {
    const archive = path.join(dir, "bad.tar");
    const twice: TarEntry[] = [{ type: "dir", path: "/a" }, { type: "file", path: "a/", content: Buffer.from("") }];
    await assert.rejects(writeOciArchive(archive, { ...spec([]), layers: [twice] }), /"a" is listed twice/);
    const escape: TarEntry[] = [{ type: "file", path: "/app/../../etc/passwd", content: Buffer.from("") }];
    await assert.rejects(writeOciArchive(archive, { ...spec([]), layers: [escape] }), /not a path inside an archive/);
    const underLink: TarEntry[] = [{ type: "symlink", path: "lib", target: "usr/lib" }, { type: "file", path: "lib/libc.so", content: Buffer.from("") }];
    await assert.rejects(writeOciArchive(archive, { ...spec([]), layers: [underLink] }), /lies under "lib", which is not a directory/);
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith("bad.tar")), [], "no archive, not even a partial one");
  });
});

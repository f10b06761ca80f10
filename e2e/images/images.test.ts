// The images built here, imported into a real containerd and run by runc: what the local cluster's
// nodes will do with them. Needs the tools (`make tools`: containerd, runc, Node, restic, pause) and
// root; starts its own containerd and leaves nothing behind.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../cluster/tools.ts";
import { waitFor } from "../cluster/wait.ts";
import { pinnedVersion } from "./recipe.ts";
import { ensureImage, importImage, type Image, type ImageName } from "./images.ts";
import { REQUIRED_APPLETS } from "./recipes/toolbox.ts";
import { NONROOT_UID } from "./recipes/blobstash.ts";
import { startTestContainerd, type TestContainerd } from "./test-containerd.ts";

describe("images in a real containerd", function () {
  this.timeout(300_000);
  let containerd: TestContainerd | undefined;
  const images = {} as Record<ImageName, Image>;

  before(async () => {
    for (const name of ["toolbox", "blobstash", "pause"] as const) images[name] = await ensureImage(name);
    containerd = await startTestContainerd();
  });
  after(async () => {
    await containerd?.stop();
  });

  const c = () => containerd!;
  const id = () => `t-${randomBytes(4).toString("hex")}`;
  /** `ctr run --rm` of an image: the container's exit code and output. */
  const runIn = (ref: string, args: string[], flags: string[] = []) => {
    const name = id();
    return c().ctrRun(["run", "--rm", "--runtime", "io.containerd.runc.v2", ...c().runFlags(name), ...flags, ref, name, ...args]);
  };
  const ok = async (ref: string, args: string[], flags: string[] = []) => {
    const r = await runIn(ref, args, flags);
    assert.equal(r.exitCode, 0, `${args.join(" ")} in ${ref} exited ${r.exitCode}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  };

  it("imports every archive under its references, for linux/amd64, and importing again changes nothing", async () => {
    for (const image of Object.values(images)) {
      assert.equal(await importImage({ ctr: c().ctr, address: c().address, archive: image.archive }), true, `${image.name} imported`);
    }
    const list = async () => (await c().ctrRun(["images", "ls"])).stdout.trim().split("\n").slice(1).map((l) => l.split(/\s+/));
    const before = await list();
    for (const image of Object.values(images)) {
      for (const ref of image.refs) {
        const row = before.find((r) => r[0] === ref);
        assert.ok(row, `${ref} in\n${before.map((r) => r.join(" ")).join("\n")}`);
        assert.ok(row.includes("linux/amd64"), row.join(" "));
      }
    }
    assert.deepEqual(new Set(images.blobstash.refs), new Set(["localhost/blobstash:dev", `localhost/blobstash:${images.blobstash.key.slice(0, 12)}`]));
    for (const image of Object.values(images)) {
      assert.equal(await importImage({ ctr: c().ctr, address: c().address, archive: image.archive }), false, `${image.name} is there already`);
    }
    assert.deepEqual(await list(), before);
  });

  it("toolbox: runs as root by default and as any user asked for, with the applets tests use and /tmp 1777", async () => {
    const ref = images.toolbox.ref;
    assert.equal((await ok(ref, ["id", "-u"])).trim(), "0");
    assert.equal((await ok(ref, ["id", "-u"], ["--user", "1234:5678"])).trim(), "1234");
    const data = randomBytes(1000).toString("hex");
    const digest = createHash("sha256").update(data).digest("hex");
    assert.equal((await ok(ref, ["sh", "-c", `printf %s ${data} | sha256sum`])).trim(), `${digest}  -`);
    const found = await ok(ref, ["which", ...REQUIRED_APPLETS]);
    assert.deepEqual(found.trim().split("\n"), REQUIRED_APPLETS.map((a) => `/bin/${a}`));
    assert.equal((await ok(ref, ["stat", "-c", "%a %u:%g", "/tmp"])).trim(), "1777 0:0");
    // Writes a tree with any owner, as the tests that fill PVCs do.
    assert.equal((await ok(ref, ["sh", "-c", "touch /tmp/f && chown 123:456 /tmp/f && stat -c %u:%g /tmp/f"])).trim(), "123:456");
  });

  it("blobstash: Node and restic at the pinned versions, as uid 65532 on a read-only root", async () => {
    const ref = images.blobstash.ref;
    const ro = ["--read-only"];
    const probe = JSON.parse(
      await ok(ref, ["node", "-e", `
        const fs = require("node:fs");
        let rootWrite = "allowed";
        try { fs.writeFileSync("/app/x", "x"); } catch (e) { rootWrite = e.code; }
        console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), node: process.version, home: process.env.HOME, env: process.env.NODE_ENV, rootWrite }));
      `], ro),
    ) as Record<string, unknown>;
    assert.deepEqual(probe, { uid: NONROOT_UID, gid: NONROOT_UID, node: `v${pinnedVersion("NODE_VERSION")}`, home: "/tmp", env: "production", rootWrite: "EROFS" });
    assert.match(await ok(ref, ["restic", "version"], ro), new RegExp(`^restic ${pinnedVersion("RESTIC_VERSION").slice(1).replaceAll(".", "\\.")} `));
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as { version: string };
    assert.equal((await ok(ref, ["blobstash", "--version"], ro)).trim(), `blobstash ${pkg.version}`);
    // Backup and restore Jobs may run it as root, still on a read-only root.
    assert.equal((await ok(ref, ["blobstash", "--version"], [...ro, "--user", "0:0"])).trim(), `blobstash ${pkg.version}`);
    const help = await runIn(ref, ["blobstash", "--help"], ro);
    assert.equal(help.exitCode, 0, help.stderr);
    assert.match(help.stderr, /^usage: blobstash <command>/);
    // The wrapper a Job pod runs starts and checks its flags (restic is not reached without them).
    const wrapper = await runIn(ref, ["blobstash", "backup"], ro);
    assert.equal(wrapper.exitCode, 2, wrapper.stderr);
    assert.match(wrapper.stderr, /--source is required/);
  });

  it("blobstash: the image's own entrypoint and command start the operator, which says what it lacks", async () => {
    // No command given: ENTRYPOINT ["blobstash"] + CMD ["operator"]; outside a cluster it finds no credentials.
    const r = await runIn(images.blobstash.ref, [], ["--read-only"]);
    assert.equal(r.exitCode, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /blobstash: cannot read kubeconfig \/tmp\/\.kube\/config/);
  });

  it("pause: starts, keeps running as uid 65535, and stops on SIGTERM", async () => {
    const name = id();
    const started = await c().ctrRun(["run", "-d", "--runtime", "io.containerd.runc.v2", ...c().runFlags(name), images.pause.ref, name]);
    assert.equal(started.exitCode, 0, started.stderr);
    try {
      const task = async () => (await c().ctrRun(["tasks", "ls"])).stdout.split("\n").map((l) => l.split(/\s+/)).find((f) => f[0] === name);
      const [, pid, status] = (await task())!;
      assert.equal(status, "RUNNING");
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      assert.equal(uid, "65535");
      assert.equal((await c().ctrRun(["tasks", "kill", "--signal", "SIGTERM", name])).exitCode, 0);
      await waitFor("pause to stop", async () => (await task())?.[2] === "STOPPED", { timeoutMs: 10_000 });
    } finally {
      await c().ctrRun(["tasks", "delete", "--force", name]);
      await c().ctrRun(["containers", "delete", name]);
    }
  });

  it("stops leaving no process, mount or directory behind", async () => {
    const { dir } = c();
    await c().stop();
    const left = c().leftovers();
    containerd = undefined;
    assert.deepEqual(left, { processes: [], mounts: [] });
    assert.equal(existsSync(dir), false);
  });
});

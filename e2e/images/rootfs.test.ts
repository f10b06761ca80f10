import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { accountFiles, directoryTree, parseLdd, sharedLibraries } from "./rootfs.ts";

describe("root filesystem pieces", () => {
  it("reads ldd's libraries and loader, skipping the vDSO", () => {
    const out = [
      "\tlinux-vdso.so.1 (0x00007ffd1b5f2000)",
      "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f0a1c000000)",
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0a1bc1e000)",
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f0a1c3e4000)",
      "",
    ].join("\n");
    assert.deepEqual(parseLdd(out), ["/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"]);
    assert.deepEqual(parseLdd("\tnot a dynamic executable\n"), []);
    assert.throws(() => parseLdd("\tlibfoo.so.1 => not found\n"), /libfoo.so.1 not found/);
  });

  it("finds the loader and libc of a real program, and nothing for a static one", async () => {
    const libs = await sharedLibraries("/usr/bin/env");
    assert.ok(libs.some((l) => /\/libc\.so\.6$/.test(l)), libs.join(", "));
    assert.ok(libs.some((l) => /\/ld-linux-x86-64\.so\.2$/.test(l)), libs.join(", "));
    // glibc's ldconfig is static-pie (ldd: "statically linked"); a file that is no ELF at all makes
    // ldd fail with "not a dynamic executable", as Debian's static busybox does.
    assert.deepEqual(await sharedLibraries("/sbin/ldconfig"), []);
    assert.deepEqual(await sharedLibraries("/etc/passwd"), []);
    await assert.rejects(sharedLibraries("/nonexistent/program"));
  });

  it("takes a directory tree with modes that depend only on the owner's execute bit", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "rootfs-test-"));
    try {
      mkdirSync(path.join(dir, "sub"), { mode: 0o700 });
      writeFileSync(path.join(dir, "sub/run"), "x");
      chmodSync(path.join(dir, "sub/run"), 0o700);
      writeFileSync(path.join(dir, "data"), "y");
      chmodSync(path.join(dir, "data"), 0o600);
      symlinkSync("sub/run", path.join(dir, "link"));
      assert.deepEqual(await directoryTree(dir, "/app/x"), [
        { type: "dir", path: "/app/x" },
        { type: "file", path: "/app/x/data", content: path.join(dir, "data"), mode: 0o644 },
        { type: "symlink", path: "/app/x/link", target: "sub/run" },
        { type: "dir", path: "/app/x/sub" },
        { type: "file", path: "/app/x/sub/run", content: path.join(dir, "sub/run"), mode: 0o755 },
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes passwd and group with a group per account", () => {
    const [passwd, group] = accountFiles([
      { name: "root", uid: 0, home: "/root", shell: "/bin/sh" },
      { name: "nonroot", uid: 65532, home: "/tmp", shell: "/usr/sbin/nologin" },
    ]);
    assert.deepEqual(passwd, { type: "file", path: "etc/passwd", content: Buffer.from("root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/tmp:/usr/sbin/nologin\n") });
    assert.deepEqual(group, { type: "file", path: "etc/group", content: Buffer.from("root:x:0:\nnonroot:x:65532:\n") });
  });
});

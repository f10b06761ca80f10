// localhost/toolbox:latest: Debian's static busybox with its applets linked in /bin. Tests and the
// demo write data into PVCs and read it back through pods of this image, as a user would; it runs
// as root by default because tests write trees with any owner. Like busybox's own image: no
// entrypoint, `sh` as the command.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import type { Recipe } from "../recipe.ts";
import { accountFiles, requireStatic, TMP } from "../rootfs.ts";
import type { TarEntry } from "../tar.ts";

export const TOOLBOX_REF = "localhost/toolbox:latest";
const BUSYBOX = "/bin/busybox";

/** What tests rely on; the build fails when the busybox at hand lacks one. */
export const REQUIRED_APPLETS = [
  "sh", "id", "stat", "chown", "chmod", "find", "sha256sum", "touch", "head", "ln", "readlink", "sleep", "ls",
  "cat", "mkdir", "rm", "cp", "mv", "dd", "cmp", "echo", "sync", "test", "wc", "tr", "cut", "sort", "xargs",
];

export const toolbox: Recipe = {
  name: "toolbox",
  module: import.meta.url,
  refs: () => [TOOLBOX_REF],
  async plan() {
    if (!existsSync(BUSYBOX)) throw new Error(`${BUSYBOX} is missing: install Debian's busybox-static (make tools does)`);
    await requireStatic(BUSYBOX, "the toolbox image has no libraries: install Debian's busybox-static");
    return {
      inputs: [{ name: "busybox", file: BUSYBOX }],
      async build() {
        const { stdout } = await promisify(execFile)(BUSYBOX, ["--list"], { encoding: "utf8" });
        const applets = stdout.split("\n").filter((a) => a !== "" && a !== "busybox");
        const missing = REQUIRED_APPLETS.filter((a) => !applets.includes(a));
        if (missing.length > 0) throw new Error(`${BUSYBOX} lacks the applets ${missing.join(", ")}`);
        const layer: TarEntry[] = [
          { type: "file", path: "bin/busybox", content: BUSYBOX, mode: 0o755 },
          ...applets.map((a): TarEntry => ({ type: "symlink", path: `bin/${a}`, target: "busybox" })),
          ...accountFiles([
            { name: "root", uid: 0, home: "/root", shell: "/bin/sh" },
            { name: "nobody", uid: 65534, home: "/nonexistent", shell: "/bin/false" },
          ]),
          { type: "dir", path: "root", mode: 0o700 },
          TMP,
        ];
        return { config: { user: "0:0", cmd: ["sh"], env: { PATH: "/bin" } }, layers: [layer] };
      },
    };
  },
};

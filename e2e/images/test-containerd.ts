// A containerd of a test's own, in a temp dir (root, state, sockets, runc's state), with no CRI and
// no NRI (whose socket is a fixed path another containerd on this machine uses), for running images
// with `ctr run`. stop() leaves nothing behind: no process, no mount, no directory.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { tool } from "../cluster/tools.ts";
import { exitedWithLog, logTail, startProcess, stopProcess } from "../cluster/supervisor.ts";
import { waitFor } from "../cluster/wait.ts";

const run = promisify(execFile);

const TMPFS_MAGIC = 0x01021994;

/**
 * Memory when the machine has a tmpfs at /dev/shm: an import writes the image twice (content store
 * and snapshot), and removing ~500 MB in 13k files from this disk took 10-30 s under load.
 */
function scratchBase(): string {
  try {
    if (statfsSync("/dev/shm").type === TMPFS_MAGIC) return "/dev/shm";
  } catch {
    // no /dev/shm
  }
  return os.tmpdir();
}

// containerd 2.4 puts every shim's socket under this fixed directory (pkg/shim: defaults.DefaultStateDir),
// whatever its state dir; the socket names hash the gRPC address, so instances do not collide.
const SHIM_SOCKET_ROOT = "/run/containerd";

export interface CtrResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export interface TestContainerd {
  dir: string;
  /** containerd's gRPC socket. */
  address: string;
  ctr: string;
  /** Runs ctr against this containerd in namespace k8s.io; a non-zero exit is returned, not thrown. */
  ctrRun(args: string[]): Promise<CtrResult>;
  /** Flags `ctr run` needs here: runc's state and ctr's stdio fifos in the temp dir, a cgroup of the container's own. */
  runFlags(id: string): string[];
  /** Processes this containerd started that still run (shims, containers). */
  leftovers(): { processes: number[]; mounts: string[] };
  stop(): Promise<void>;
}

export function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((m): m is string => m !== undefined && (m === dir || m.startsWith(`${dir}/`)));
}

/** PIDs whose command line names this socket: the shims this containerd started (`-address <socket>`). */
function processesUsing(address: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.includes(address)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export async function startTestContainerd(): Promise<TestContainerd> {
  const containerd = tool("containerd");
  const ctr = tool("ctr");
  const runc = tool("runc");
  const dir = mkdtempSync(path.join(scratchBase(), "blobstash-ctrd-"));
  const address = path.join(dir, "containerd.sock");
  const hadShimRoot = existsSync(SHIM_SOCKET_ROOT);
  writeFileSync(
    path.join(dir, "config.toml"),
    [
      "version = 3",
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      `disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime", "io.containerd.podsandbox.controller.v1.podsandbox", "io.containerd.nri.v1.nri"]`,
      "[grpc]",
      `  address = "${address}"`,
      "[ttrpc]",
      `  address = "${address}.ttrpc"`,
      "[plugins]",
      '  [plugins."io.containerd.internal.v1.opt"]',
      `    path = "${dir}/opt"`,
      "",
    ].join("\n"),
  );
  const record = startProcess(dir, "containerd", containerd, ["--config", path.join(dir, "config.toml")], {
    env: { PATH: [path.dirname(containerd), path.dirname(runc), "/usr/sbin", "/usr/bin", "/sbin", "/bin"].join(":"), HOME: dir },
    dieWithParent: true,
  });
  // ctr's own log lines (on cgroup v1 a deprecation warning per `run`) share stderr with the container's.
  const withoutCtrLog = (stderr = "") => stderr.replace(/^time="[^"]*" level=\w+ msg=.*\n/gm, "");
  const ctrRun = async (args: string[]): Promise<CtrResult> => {
    try {
      const { stdout, stderr } = await run(ctr, ["--address", address, "--namespace", "k8s.io", ...args], { encoding: "utf8" });
      return { stdout, stderr: withoutCtrLog(stderr), exitCode: 0 };
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; code?: number | string };
      if (typeof e.code !== "number") throw err;
      return { stdout: e.stdout ?? "", stderr: withoutCtrLog(e.stderr), exitCode: e.code };
    }
  };
  const stop = async () => {
    await stopProcess(dir, "containerd");
    for (const pid of processesUsing(address)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // exited meanwhile
      }
    }
    await waitFor("the shims to exit", () => processesUsing(address).length === 0, { timeoutMs: 10_000 });
    // Deepest first: a container's rootfs lies under the state dir, snapshots under the root.
    for (const m of mountsUnder(dir).reverse()) await run("umount", [m]);
    rmSync(dir, { recursive: true, force: true });
    if (!hadShimRoot) {
      for (const d of [path.join(SHIM_SOCKET_ROOT, "s"), path.join(SHIM_SOCKET_ROOT, "fifo"), SHIM_SOCKET_ROOT]) {
        try {
          rmdirSync(d); // only when empty: another containerd may have sockets there
        } catch {
          // not empty or not there
        }
      }
    }
  };
  try {
    await waitFor(
      "containerd to serve",
      async () => (await ctrRun(["version"])).exitCode === 0,
      { timeoutMs: 30_000, intervalMs: 100, abortIf: exitedWithLog(dir, record) },
    );
  } catch (err) {
    const log = logTail(dir, "containerd", 40);
    await stop();
    throw new Error(`${(err as Error).message}\n${log}`);
  }
  return {
    dir,
    address,
    ctr,
    ctrRun,
    runFlags: (id) => ["--runc-root", path.join(dir, "runc"), "--fifo-dir", path.join(dir, "fifo"), "--cgroup", `/blobstash-images-test-${id}`],
    leftovers: () => ({ processes: processesUsing(address), mounts: mountsUnder(dir) }),
    stop,
  };
}

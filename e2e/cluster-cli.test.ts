// `make up` / `make down` as a user runs them (node e2e/cluster/cli.ts), on a cluster of their own in a
// temp state dir: up is idempotent, the env file is all a shell needs, down leaves no process behind
// and gives the machine back as it was (network devices, firewall rules, cgroups, kernel settings).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { coreProcesses, NODE_NAMES } from "./cluster/cluster.ts";
import { currentKernelSettings } from "./cluster/kernel-settings.ts";
import { planNetwork } from "./cluster/network.ts";
import { readState } from "./cluster/state.ts";
import { readRecords } from "./cluster/supervisor.ts";
import { alive } from "./support/processes.ts";
import { nodeBinary, repoRoot } from "./cluster/tools.ts";

const cli = path.join(repoRoot, "e2e/cluster/cli.ts");
// A user's shell: none of the variables the test fixture put into this process.
const userEnv = { HOME: process.env.HOME ?? "/root", PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8" };

/** Live processes whose command line or working directory points into dir: anything of ours that escaped the records. */
function processesUsing(dir: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      if (!alive(Number(pid))) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cmdline.includes(dir) || cwd.startsWith(dir)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** What a cluster may change on the machine and must give back: devices, routes, firewall, kernel settings, mounts, cgroups. */
async function machineState(): Promise<Record<string, unknown>> {
  const run = async (cmd: string, args: string[]) => (await execa(cmd, args, { reject: false })).stdout;
  const links = JSON.parse(await run("ip", ["-j", "link"])) as Array<{ ifname: string }>;
  return {
    links: links.map((l) => l.ifname).sort(),
    routes: await run("ip", ["route", "show", "table", "all"]),
    nftables: await run("nft", ["list", "ruleset"]),
    kernel: currentKernelSettings(),
    forwarding: readFileSync("/proc/sys/net/ipv4/ip_forward", "utf8"),
    mounts: readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ").slice(3, 5).join(" ")).sort(),
    cgroups: (await run("find", ["/sys/fs/cgroup", "-maxdepth", "5", "-type", "d", "-name", "blobstash-*"])).split("\n").filter(Boolean).sort(),
  };
}

describe("local cluster: make up / make down (cli.ts)", function () {
  this.timeout(180_000);
  let dir: string;
  const up = () => execa(nodeBinary(), [cli, "up", "--dir", dir], { env: userEnv, extendEnv: false, all: true });

  before(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), "blobstash-cli-"));
  });

  after(async function () {
    // Only reached with processes still up if an assertion failed midway; down is idempotent.
    await execa(nodeBinary(), [cli, "down", "--dir", dir], { env: userEnv, extendEnv: false, reject: false });
    await rm(dir, { recursive: true, force: true });
  });

  it("up starts everything, a second up reuses it, the env file works in a plain shell, down stops every PID and undoes every change", async function () {
    const machineBefore = await machineState();
    const first = await up();
    assert.match(first.stdout, /cluster up in/);
    const state = readState(dir)!;
    const pids = Object.fromEntries(readRecords(dir).map((r) => [r.name, r.pid]));
    const expected = [...coreProcesses];
    assert.deepEqual(Object.keys(pids).sort(), expected.sort());
    for (const [name, pid] of Object.entries(pids)) assert.ok(alive(pid), `${name} (${pid}) runs`);
    for (const name of expected) assert.ok(existsSync(path.join(dir, "logs", `${name}.log`)), `${name} logs to logs/${name}.log`);

    const second = await up();
    assert.match(second.stdout, /already running/);
    assert.deepEqual(Object.fromEntries(readRecords(dir).map((r) => [r.name, r.pid])), pids, "the second up started nothing new");

    const container = `cli-${randomBytes(3).toString("hex")}`;
    const shell = await execa("bash", ["--norc", "-c", `. ${dir}/env && kubectl get nodes -o name && kubectl auth whoami -o jsonpath='{.status.userInfo.groups}' && echo && restic -r azure:${container}:/repo init`], {
      env: { ...userEnv, RESTIC_PASSWORD: "cli-test" }, extendEnv: false,
    });
    for (const node of NODE_NAMES) assert.match(shell.stdout, new RegExp(`^node/${node}$`, "m"));
    assert.equal((await execa("ip", ["link", "show", planNetwork(state.id, state.octet).bridge], { reject: false })).exitCode, 0, "the cluster's bridge exists while it runs");
    assert.match(shell.stdout, /system:masters/);
    assert.match(shell.stdout, new RegExp(`created restic repository \\w+ at azure:${container}:/repo`));

    const down = await execa(nodeBinary(), [cli, "down", "--dir", dir], { env: userEnv, extendEnv: false });
    assert.match(down.stdout, /none of them runs any more/);
    for (const [name, pid] of Object.entries(pids)) assert.equal(alive(pid), false, `${name} (${pid}) is gone`);
    assert.deepEqual(processesUsing(dir), []);
    assert.deepEqual(readRecords(dir), []);
    assert.deepEqual(readdirSync(dir).sort(), ["logs"], "only the logs are left");
    assert.deepEqual(await machineState(), machineBefore, "the machine is as it was before up");
  });
});

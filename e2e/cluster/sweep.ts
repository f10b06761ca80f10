// What a cluster run killed outright leaves behind (SIGKILL, a lost session: no 'exit' handler
// runs): its bridge, its cgroups and etcd's data on tmpfs. Each is named by the cluster's id, and a
// cluster is dead when the process that holds its kernel settings is gone and its cgroups hold no
// process; the next start removes a dead cluster's leftovers, so a killed run costs the machine
// nothing for long.

import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { clusterCgroupName, hierarchies, ownMemoryCgroup, pidsIn, removeSubtree } from "./cgroups.ts";
import { RECORD_DIR } from "./kernel-settings.ts";
import { deleteBridge, planNetwork, SYSTEM_PATH } from "./network.ts";

export const SHM = "/dev/shm";
const list = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []);
const ID = "[0-9a-f]{6}";
/** etcd's data directory on tmpfs for cluster `id`. */
export const etcdShmName = (id: string) => `blobstash-etcd-${id}`;

/** Cluster ids named by leftovers: bridge names, cgroup directory names and tmpfs directory names. Pure. */
export function idsIn(bridges: readonly string[], cgroups: readonly string[], shm: readonly string[]): Set<string> {
  const ids = new Set<string>();
  const add = (names: readonly string[], re: RegExp) => {
    for (const n of names) {
      const m = re.exec(n);
      if (m) ids.add(m[1]!);
    }
  };
  const pattern = (name: (id: string) => string) => new RegExp(`^${name("ID").replace("ID", `(${ID})`)}$`);
  add(bridges, pattern((id) => planNetwork(id, 0).bridge));
  add(cgroups, pattern(clusterCgroupName));
  add(shm, pattern(etcdShmName));
  return ids;
}

/**
 * Ids of clusters some process on the machine still belongs to: by its cgroups (node daemons and
 * containers, wherever the starter's cgroup was) or its command line (etcd's data directory).
 */
export function idsInUse(procDir = "/proc"): Set<string> {
  const ids = new Set<string>();
  const re = new RegExp(`blobstash-(?:etcd-)?(${ID})(?![0-9a-f])`, "g");
  for (const pid of list(procDir)) {
    if (!/^\d+$/.test(pid)) continue;
    for (const f of ["cgroup", "cmdline"]) {
      try {
        for (const m of readFileSync(path.join(procDir, pid, f), "utf8").matchAll(re)) ids.add(m[1]!);
      } catch {
        // the process ended meanwhile
      }
    }
  }
  return ids;
}

/** Whether the process that holds the cluster's kernel settings still runs (it is read, never removed here). */
function holderAlive(id: string, recordDir: string): boolean {
  try {
    const pid = Number(readFileSync(path.join(recordDir, "holders", id), "utf8").trim());
    return Number.isInteger(pid) && pid > 0 && existsSync(`/proc/${pid}`);
  } catch {
    return false;
  }
}

/**
 * Removes the leftovers of every dead cluster on this machine (or of the `only` ids); returns their
 * ids. A cluster is alive while its kernel-settings holder runs or any process belongs to it.
 */
export async function sweepDeadClusters(o: { recordDir?: string; shm?: string; only?: readonly string[] } = {}): Promise<string[]> {
  const recordDir = o.recordDir ?? RECORD_DIR;
  const shm = o.shm ?? SHM;
  const base = ownMemoryCgroup(readFileSync("/proc/self/cgroup", "utf8"));
  const bridges = (await execa("ip", ["-o", "link", "show", "type", "bridge"], { env: { PATH: SYSTEM_PATH } })).stdout
    .split("\n")
    .map((l) => l.split(":")[1]?.trim() ?? "");
  const cgroups = hierarchies().flatMap((h) => list(path.join(h, base)));
  const inUse = idsInUse();
  const dead: string[] = [];
  for (const id of idsIn(bridges, cgroups, list(shm))) {
    if (o.only && !o.only.includes(id)) continue;
    const cgroup = path.posix.join(base, clusterCgroupName(id));
    if (holderAlive(id, recordDir) || inUse.has(id) || pidsIn(cgroup).length > 0) continue;
    dead.push(id);
    const bridge = planNetwork(id, 0).bridge;
    if (bridges.includes(bridge)) await deleteBridge({ bridge });
    removeSubtree(cgroup);
    rmSync(path.join(shm, etcdShmName(id)), { recursive: true, force: true });
  }
  return dead;
}

// A cgroup subtree per node (cgroup v1: the same relative path in every mounted hierarchy). The
// node's daemons are started inside it and the kubelet puts its pods below it (cgroupRoot), so two
// nodes on one machine never share `kubepods`, and stopping a node means killing whatever its
// subtree holds: daemons, shims and every container, even those that left the daemons' process group.

import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";

const CGROUP_FS = "/sys/fs/cgroup";
/** Controllers kubelet's cgroupfs driver needs (it checks each for the cgroup root), and the cgroup v2 tree runc mirrors pod paths into. */
const CONTROLLERS = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "systemd", "unified"];

/** The v1 hierarchies mounted here, as directories under /sys/fs/cgroup (named controllers and name=systemd). */
export function hierarchies(): string[] {
  if (!existsSync(CGROUP_FS)) return [];
  return readdirSync(CGROUP_FS)
    .filter((d) => CONTROLLERS.includes(d))
    .map((d) => path.join(CGROUP_FS, d))
    .filter((d) => existsSync(path.join(d, "cgroup.procs")));
}

/**
 * The cgroup this process lives in for memory (a sandbox may confine memory there); nodes nest under
 * it so their usage counts against whatever limit applies to the cluster's starter. Parsed from
 * /proc/self/cgroup's `N:memory:/path` line.
 */
export function ownMemoryCgroup(procSelfCgroup: string): string {
  for (const line of procSelfCgroup.split("\n")) {
    const [, controllers, p] = line.split(":");
    if (controllers?.split(",").includes("memory") && p) return p;
  }
  return "/";
}

export interface ClusterCgroup {
  /** Path relative to each hierarchy's root; nodes get `<root>/<node>` (their kubelet's cgroupRoot). */
  root: string;
  /** Directories created for it (parents included, shallowest first), so removal takes exactly those. */
  created: string[];
}

function copyCpuset(dir: string): void {
  // A new v1 cpuset starts with no CPUs and no memory nodes, and no task may join it until both are set.
  for (const f of ["cpuset.cpus", "cpuset.mems"]) {
    const own = path.join(dir, f);
    if (readFileSync(own, "utf8").trim() === "") writeFileSync(own, readFileSync(path.join(path.dirname(dir), f), "utf8"));
  }
}

/** Makes `rel` in every hierarchy; returns the directories that did not exist before. */
export function ensureCgroup(rel: string): string[] {
  const created: string[] = [];
  for (const h of hierarchies()) {
    let current = h;
    for (const part of rel.split("/").filter(Boolean)) {
      current = path.join(current, part);
      if (!existsSync(current)) {
        mkdirSync(current);
        created.push(current);
      }
      if (path.basename(h) === "cpuset") copyCpuset(current);
    }
  }
  return created;
}

/** Creates `<own memory cgroup>/blobstash-<id>` in every hierarchy: the parent of the cluster's nodes. */
/** The directory name of cluster `id`'s cgroup in every hierarchy. */
export const clusterCgroupName = (id: string) => `blobstash-${id}`;

export function createClusterCgroup(id: string): ClusterCgroup {
  const base = ownMemoryCgroup(readFileSync("/proc/self/cgroup", "utf8"));
  const root = path.posix.join(base, clusterCgroupName(id));
  return { root, created: ensureCgroup(root) };
}

/** The cgroup.procs files a process must be written into to join `rel` in every hierarchy. */
export function procsFiles(rel: string): string[] {
  return hierarchies().map((h) => path.join(h, rel, "cgroup.procs"));
}

function subtree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out = [dir];
  for (const entry of readdirSync(dir)) {
    const child = path.join(dir, entry);
    try {
      if (statSync(child).isDirectory()) out.push(...subtree(child));
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

/** PIDs of every process anywhere in `rel`'s subtree, in any hierarchy. */
export function pidsIn(rel: string): number[] {
  const pids = new Set<number>();
  for (const h of hierarchies()) {
    for (const dir of subtree(path.join(h, rel))) {
      try {
        for (const line of readFileSync(path.join(dir, "cgroup.procs"), "utf8").split("\n")) if (line) pids.add(Number(line));
      } catch {
        // removed meanwhile
      }
    }
  }
  return [...pids];
}

/** SIGKILLs everything in the subtree until it is empty (a process may fork while we kill). */
export async function killSubtree(rel: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = pidsIn(rel);
    if (pids.length === 0) return;
    if (Date.now() > deadline) throw new Error(`processes in cgroup ${rel} survived SIGKILL: ${pids.join(", ")}`);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Removes the subtree (kubelet's pod cgroups included), deepest first, then the parents `created` lists. */
export function removeSubtree(rel: string, created: string[] = []): void {
  for (const h of hierarchies()) {
    for (const dir of subtree(path.join(h, rel)).reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // busy or gone; reported by the caller's check
      }
    }
  }
  for (const dir of [...created].reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // not ours to force
    }
  }
}

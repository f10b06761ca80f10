import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { ClusterCgroup } from "./cgroups.ts";
import type { ClusterImages } from "./images.ts";
import type { NodeAddressing } from "./network.ts";

/** What a running cluster needs to be found again by `attachCluster` (in <dir>/cluster.json, mode 0600: holds the emulator key). */
export interface ClusterState {
  version: 2;
  /** Random hex: names the bridge, veths, cgroups and the kernel-settings hold. */
  id: string;
  /** The cluster's network is 10.<octet>.0.0/16. */
  octet: number;
  createdAt: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; controllerManager: number; scheduler: number; azurite: number; proxy: number };
  etcdDataDir: string;
  azurite: { account: string; key: string };
  nodes: NodeAddressing[];
  cgroup: ClusterCgroup;
  images: ClusterImages;
}

export const stateFile = (dir: string) => path.join(dir, "cluster.json");

export function writeState(dir: string, state: ClusterState): void {
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
}

export function readState(dir: string): ClusterState | undefined {
  try {
    const state = JSON.parse(readFileSync(stateFile(dir), "utf8")) as ClusterState;
    return state.version === 2 ? state : undefined;
  } catch {
    return undefined;
  }
}

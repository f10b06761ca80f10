import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/** What a running cluster needs to be found again by `attachCluster` (in <dir>/cluster.json, mode 0600: holds the emulator key). */
export interface ClusterState {
  version: 1;
  createdAt: string;
  ports: { etcdClient: number; etcdPeer: number; apiserver: number; controllerManager: number; azurite: number; proxy: number };
  etcdDataDir: string;
  azurite: { account: string; key: string };
  nodeAgent: boolean;
}

export const stateFile = (dir: string) => path.join(dir, "cluster.json");

export function writeState(dir: string, state: ClusterState): void {
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 2) + "\n", { mode: 0o600 });
}

export function readState(dir: string): ClusterState | undefined {
  try {
    const state = JSON.parse(readFileSync(stateFile(dir), "utf8")) as ClusterState;
    return state.version === 1 ? state : undefined;
  } catch {
    return undefined;
  }
}

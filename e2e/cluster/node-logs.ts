import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import type { Cluster } from "./cluster.ts";
import { nodeLayout } from "./node-config.ts";

/**
 * The log files the nodes' kubelets keep for a namespace's containers of one name
 * (/var/log/pods/<ns>_<pod>_<uid>/<container>/<restart>.log inside each node), read from the host.
 */
export function podLogFiles(cluster: Cluster, namespace: string, container: string): string[] {
  const files: string[] = [];
  for (const node of cluster.nodes) {
    const root = path.join(nodeLayout(cluster.dir, node.name).varLog, "pods");
    if (!existsSync(root)) continue;
    for (const pod of readdirSync(root).filter((d) => d.startsWith(`${namespace}_`))) {
      const dir = path.join(root, pod, container);
      if (existsSync(dir)) for (const f of readdirSync(dir)) files.push(path.join(dir, f));
    }
  }
  return files;
}

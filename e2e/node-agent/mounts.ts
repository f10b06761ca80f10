// Which host path stands in for each container-visible path of one container: its volumeMounts
// (subPath and subPathExpr honoured) and its termination message file. See paths.ts for how the
// mappings are applied.
import path from "node:path";
import type { V1Container } from "@kubernetes/client-node";
import { expand } from "./expansion.ts";
import type { PathMapping } from "./paths.ts";

export const DEFAULT_TERMINATION_MESSAGE_PATH = "/dev/termination-log";

export function containerMappings(
  container: V1Container,
  volumeDirs: ReadonlyMap<string, string>,
  terminationFile: string,
  env: ReadonlyMap<string, string>,
): PathMapping[] {
  const out: PathMapping[] = [];
  for (const m of container.volumeMounts ?? []) {
    const dir = volumeDirs.get(m.name);
    if (dir === undefined || !m.mountPath) continue;
    const sub = m.subPathExpr ? expand(m.subPathExpr, (n) => env.get(n)) : (m.subPath ?? "");
    // kubelet rejects subPaths that climb out of the volume; the agent clamps them inside instead.
    const to = sub ? path.join(dir, path.join("/", sub)) : dir;
    out.push({ from: m.mountPath, to });
  }
  out.push({ from: container.terminationMessagePath || DEFAULT_TERMINATION_MESSAGE_PATH, to: terminationFile });
  return out;
}

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

export const repoRoot = path.resolve(import.meta.dirname, "..", "..");

let cachedToolDirs: string[] | undefined;

/** The cached tool bin directories (Node 24, Kubernetes, etcd, restic, helm), as `make tools` lays them out. */
export function toolDirs(): string[] {
  cachedToolDirs ??= execFileSync("bash", [path.join(repoRoot, "e2e/tools/install.sh"), "--print-path"], {
    encoding: "utf8",
  })
    .trim()
    .split(":")
    .filter(Boolean);
  return cachedToolDirs;
}

/** What goes in front of PATH for anything that runs blobstash, restic, kubectl or helm. */
export function pathPrefix(): string[] {
  return [path.join(repoRoot, "bin"), path.join(repoRoot, "node_modules/.bin"), ...toolDirs()];
}

/** Absolute path of a pinned tool; fails with the command that installs it. */
export function tool(name: string): string {
  for (const dir of toolDirs()) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not installed in ${toolDirs().join(", ")}; run \`make tools\` first`);
}

/** The Node 24 binary the project brings, falling back to the one running this code. */
export function nodeBinary(): string {
  try {
    return tool("node");
  } catch {
    return process.execPath;
  }
}

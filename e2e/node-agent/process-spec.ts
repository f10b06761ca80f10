// What the agent hands to spawn() for one container: the Pod spec's command and args (rewritten, then
// `$(VAR)`-expanded against the container's env, as kubelet does), the node-level env overlaid with
// the container's env, and the working directory.
import path from "node:path";
import type { V1Container } from "@kubernetes/client-node";
import { expand } from "./expansion.ts";

export interface ProcessSpec {
  file: string;
  args: string[];
  env: Record<string, string>;
  /** The host directory to run in. */
  cwd: string;
}

export type ProcessSpecResult = { ok: true; spec: ProcessSpec } | { ok: false; reason: "StartError"; message: string };

export function buildProcessSpec(
  container: V1Container,
  containerEnv: ReadonlyMap<string, string>,
  opts: {
    nodeEnv: Readonly<Record<string, string>>;
    rewrite: (s: string) => string;
    /** Default working directory: an empty per-container directory. */
    defaultCwd: string;
    /** Where a workingDir outside every mount lives: `<rootDir><workingDir>`. */
    rootDir: string;
  },
): ProcessSpecResult {
  const lookup = (n: string) => containerEnv.get(n);
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map((s) => expand(opts.rewrite(s), lookup));
  const [file, ...args] = argv;
  if (!container.command?.length || !file) {
    return {
      ok: false,
      reason: "StartError",
      message: "the blobstash node agent cannot run an image's entrypoint: the container must set `command`",
    };
  }
  let cwd = opts.defaultCwd;
  if (container.workingDir) {
    const rewritten = opts.rewrite(container.workingDir);
    // A workingDir outside every mount would be a directory of the image's filesystem; the agent
    // gives the pod a private stand-in for it.
    cwd = rewritten !== container.workingDir ? rewritten : path.join(opts.rootDir, path.resolve("/", container.workingDir));
  }
  return { ok: true, spec: { file, args, env: { ...opts.nodeEnv, ...Object.fromEntries(containerEnv) }, cwd } };
}

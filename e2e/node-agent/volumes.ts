// Pod volumes as host directories. A PersistentVolumeClaim `<ns>/<claim>` is `<pvcRoot>/<ns>/<claim>/`
// (created when the claim object exists; when neither the directory nor the claim exists the pod stays
// Pending, as kubelet leaves it in ContainerCreating); hostPath is the host path itself; emptyDir,
// Secret, ConfigMap, downward API and projected volumes live under the pod's directory, their files
// written with the modes kubelet would give them. A failure is a MountError: the pod stays Pending and
// the agent retries, like kubelet's FailedMount.
import { mkdir, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import type { V1KeyToPath, V1Pod, V1Volume } from "@kubernetes/client-node";
import { fieldRefValue, resourceFieldValue, type NodeFacts } from "./env.ts";

export class MountError extends Error {}

/** Secret or ConfigMap data as bytes; null when the object does not exist. */
export type BinaryData = Readonly<Record<string, Buffer>> | null;

/** What volume setup needs from the API server. */
export interface VolumeSources {
  secret(namespace: string, name: string): Promise<BinaryData>;
  configMap(namespace: string, name: string): Promise<BinaryData>;
  pvcExists(namespace: string, name: string): Promise<boolean>;
  serviceAccountToken(pod: V1Pod, audiences: string[], expirationSeconds: number): Promise<string>;
}

export interface FileProjection {
  path: string;
  content: Buffer;
  mode: number;
}

const DEFAULT_MODE = 0o644;

/** kubelet's MakePayload for Secret and ConfigMap volumes and projections. */
export function projectKeys(
  kind: "secret" | "configmap",
  data: Readonly<Record<string, Buffer>>,
  items: readonly V1KeyToPath[] | undefined,
  defaultMode: number,
  optional: boolean,
): FileProjection[] {
  if (!items || items.length === 0) {
    return Object.entries(data).map(([key, content]) => ({ path: key, content, mode: defaultMode }));
  }
  const out: FileProjection[] = [];
  for (const item of items) {
    const content = data[item.key];
    if (content === undefined) {
      if (optional) continue;
      throw new MountError(`references non-existent ${kind} key: ${item.key}`);
    }
    out.push({ path: item.path, content, mode: item.mode ?? defaultMode });
  }
  return out;
}

/** Writes files into a fresh directory, never outside it. */
export async function writeProjection(dir: string, files: readonly FileProjection[]): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const f of files) {
    const target = path.join(dir, path.join("/", f.path));
    if (target === dir) throw new MountError(`invalid file path ${JSON.stringify(f.path)}`);
    await mkdir(path.dirname(target), { recursive: true, mode: 0o755 });
    await writeFile(target, f.content, { mode: f.mode });
  }
}

export interface VolumeLayout {
  pvcRoot: string;
  /** The pod's own directory; emptyDir and projected volumes live under `<podDir>/volumes/`. */
  podDir: string;
  facts: NodeFacts;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

async function downwardFiles(
  pod: V1Pod,
  facts: NodeFacts,
  items: NonNullable<NonNullable<V1Volume["downwardAPI"]>["items"]>,
  defaultMode: number,
): Promise<FileProjection[]> {
  const out: FileProjection[] = [];
  for (const item of items) {
    let value: string;
    try {
      if (item.fieldRef) value = fieldRefValue(pod, facts, item.fieldRef.fieldPath);
      else if (item.resourceFieldRef) {
        const ref = item.resourceFieldRef;
        const c = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((x) => x.name === ref.containerName);
        if (!c) throw new Error(`container ${ref.containerName ?? ""} not found`);
        value = resourceFieldValue(c, facts, ref.resource, ref.divisor);
      } else continue;
    } catch (err) {
      throw new MountError(`downward API item ${item.path}: ${(err as Error).message}`);
    }
    out.push({ path: item.path, content: Buffer.from(value), mode: item.mode ?? defaultMode });
  }
  return out;
}

async function setUpVolume(pod: V1Pod, v: V1Volume, src: VolumeSources, layout: VolumeLayout): Promise<string> {
  const ns = pod.metadata?.namespace ?? "";
  const own = path.join(layout.podDir, "volumes", v.name);
  if (v.persistentVolumeClaim) {
    const claim = v.persistentVolumeClaim.claimName;
    const dir = path.join(layout.pvcRoot, ns, claim);
    if (await isDir(dir)) return dir;
    if (!(await src.pvcExists(ns, claim))) throw new MountError(`persistentvolumeclaim "${claim}" not found`);
    await mkdir(dir, { recursive: true });
    return dir;
  }
  if (v.emptyDir) {
    await mkdir(own, { recursive: true, mode: 0o777 });
    return own;
  }
  if (v.hostPath) {
    const type = v.hostPath.type ?? "";
    if (type === "DirectoryOrCreate") await mkdir(v.hostPath.path, { recursive: true });
    else if (type === "Directory" && !(await isDir(v.hostPath.path))) {
      throw new MountError(`hostPath type check failed: ${v.hostPath.path} is not a directory`);
    }
    return v.hostPath.path;
  }
  if (v.secret || v.configMap) {
    const isSecret = !!v.secret;
    const name = (isSecret ? v.secret?.secretName : v.configMap?.name) ?? "";
    const optional = (isSecret ? v.secret?.optional : v.configMap?.optional) === true;
    const data = isSecret ? await src.secret(ns, name) : await src.configMap(ns, name);
    if (!data && !optional) throw new MountError(`${isSecret ? "secret" : "configmap"} "${name}" not found`);
    const mode = (isSecret ? v.secret?.defaultMode : v.configMap?.defaultMode) ?? DEFAULT_MODE;
    const items = isSecret ? v.secret?.items : v.configMap?.items;
    await writeProjection(own, data ? projectKeys(isSecret ? "secret" : "configmap", data, items, mode, optional) : []);
    return own;
  }
  if (v.downwardAPI) {
    const mode = v.downwardAPI.defaultMode ?? DEFAULT_MODE;
    await writeProjection(own, await downwardFiles(pod, layout.facts, v.downwardAPI.items ?? [], mode));
    return own;
  }
  if (v.projected) {
    const mode = v.projected.defaultMode ?? DEFAULT_MODE;
    const files: FileProjection[] = [];
    for (const s of v.projected.sources ?? []) {
      if (s.secret || s.configMap) {
        const isSecret = !!s.secret;
        const name = (isSecret ? s.secret?.name : s.configMap?.name) ?? "";
        const optional = (isSecret ? s.secret?.optional : s.configMap?.optional) === true;
        const data = isSecret ? await src.secret(ns, name) : await src.configMap(ns, name);
        if (!data) {
          if (optional) continue;
          throw new MountError(`${isSecret ? "secret" : "configmap"} "${name}" not found`);
        }
        files.push(...projectKeys(isSecret ? "secret" : "configmap", data, isSecret ? s.secret?.items : s.configMap?.items, mode, optional));
      } else if (s.downwardAPI) {
        files.push(...(await downwardFiles(pod, layout.facts, s.downwardAPI.items ?? [], mode)));
      } else if (s.serviceAccountToken) {
        const t = s.serviceAccountToken;
        const audiences = t.audience ? [t.audience] : [];
        const token = await src.serviceAccountToken(pod, audiences, Math.max(600, t.expirationSeconds ?? 3600));
        files.push({ path: t.path, content: Buffer.from(token), mode: 0o600 });
      } else {
        throw new MountError(`volume ${v.name}: projected source not supported by the blobstash node agent`);
      }
    }
    await writeProjection(own, files);
    return own;
  }
  throw new MountError(`volume ${v.name}: volume type not supported by the blobstash node agent`);
}

/** Sets up every volume of the pod; returns the host directory of each, by volume name. */
export async function setUpVolumes(pod: V1Pod, src: VolumeSources, layout: VolumeLayout): Promise<Map<string, string>> {
  const dirs = new Map<string, string>();
  for (const v of pod.spec?.volumes ?? []) {
    try {
      dirs.set(v.name, await setUpVolume(pod, v, src, layout));
    } catch (err) {
      const msg = err instanceof Error ? err.message : String(err);
      throw new MountError(`MountVolume.SetUp failed for volume "${v.name}" : ${msg}`);
    }
  }
  return dirs;
}

/**
 * Removes what the pod's volumes hold under its own directory (Secret files, tokens, emptyDir data);
 * PVC and hostPath directories are not the pod's and stay.
 */
export async function tearDownVolumes(podDir: string): Promise<void> {
  await rm(path.join(podDir, "volumes"), { recursive: true, force: true });
}

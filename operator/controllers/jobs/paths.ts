// How a session's paths become paths inside the PVC. Snapshots hold the PVC's content relative to
// its root (the wrapper backs up from inside the mounted volume), so a snapshot restores into any
// PVC, whatever directory the volume was mounted at. Stash manifests name paths as the workload saw
// them (`/source/data/x` with the volume mounted at `/source/data`); `target.volumeMounts` says how to
// translate those. Without volumeMounts a path is taken as a path inside the PVC, `/` being all of it.

import type { TargetVolumeMount } from "../../api/backup.ts";

export type VolumePath = { ok: true; path: string } | { ok: false; error: string };

function segments(p: string): string[] | undefined {
  const out: string[] = [];
  for (const s of p.split("/")) {
    if (s === "" || s === ".") continue;
    if (s === "..") return undefined;
    out.push(s);
  }
  return out;
}

/**
 * The path inside the PVC ("" for its root, otherwise "a/b" without leading slash) that `path`
 * names, given the workload's volumeMounts (the longest matching mountPath wins, its subPath
 * prepended). Fails for `..` and, when volumeMounts are given, for paths outside all of them.
 */
export function volumePath(path: string, mounts: readonly TargetVolumeMount[] | undefined): VolumePath {
  const parts = segments(path);
  if (!parts) return { ok: false, error: `path "${path}" must not contain ".."` };
  if (!mounts || mounts.length === 0) return { ok: true, path: parts.join("/") };
  let best: { mount: TargetVolumeMount; depth: number } | undefined;
  for (const mount of mounts) {
    const mp = segments(mount.mountPath);
    if (!mp) continue;
    if (mp.length <= parts.length && mp.every((s, i) => parts[i] === s) && (!best || mp.length > best.depth)) {
      best = { mount, depth: mp.length };
    }
  }
  if (!best) {
    return { ok: false, error: `path "${path}" is not under any volumeMounts mountPath (${mounts.map((m) => m.mountPath).join(", ")})` };
  }
  const sub = segments(best.mount.subPath ?? "");
  if (!sub) return { ok: false, error: `subPath "${best.mount.subPath}" must not contain ".."` };
  return { ok: true, path: [...sub, ...parts.slice(best.depth)].join("/") };
}

/** restic's argument for a path inside the volume, relative to the volume root: "." or "a/b". */
export function relativeArg(volumeRelative: string): string {
  return volumeRelative === "" ? "." : volumeRelative;
}

/**
 * A backup exclude pattern as restic must see it. restic matches patterns that start with `/`
 * against the absolute path of each file, so anchored patterns get the PVC's mount path in front;
 * unanchored ones match anywhere as they are.
 */
export function backupExcludeArg(pattern: string, mounts: readonly TargetVolumeMount[] | undefined, volumeMountPath: string): VolumePath {
  if (!pattern.startsWith("/")) return { ok: true, path: pattern };
  const p = volumePath(pattern, mounts);
  if (!p.ok) return p;
  return { ok: true, path: p.path === "" ? volumeMountPath : `${volumeMountPath}/${p.path}` };
}

/**
 * A restore include/exclude pattern: restic matches anchored patterns against paths inside the
 * snapshot, which are PVC-relative, so an anchored pattern becomes `/<path inside the PVC>`.
 */
export function snapshotPattern(pattern: string, mounts: readonly TargetVolumeMount[] | undefined): VolumePath {
  if (!pattern.startsWith("/")) return { ok: true, path: pattern };
  const p = volumePath(pattern, mounts);
  if (!p.ok) return p;
  return { ok: true, path: `/${p.path}` };
}

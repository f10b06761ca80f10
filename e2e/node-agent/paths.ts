// Path rewriting: the node agent runs containers as plain host processes, not chrooted, so a
// container's volumeMounts cannot appear at their mountPath. Instead, every string the Pod spec itself
// spells out for a container (command, args, literal env `value`s, workingDir) has each occurrence of a
// mountPath rewritten to the host directory that backs the mount, and the termination message path
// (`/dev/termination-log` unless terminationMessagePath says otherwise) to a per-container host file.
//
// The rule, precisely:
// - A mapping applies where its `from` path occurs as a whole path prefix: not preceded by a path
//   character or `/` (so mount `/data` does not match inside `/x/data`) and not followed by a path
//   character (so `/data` matches `/data`, `/data/x`, `--dir=/data`, `a:/data` but not `/database`).
//   Path characters are letters, digits and `.`, `_`, `-`, `~`.
// - Longest `from` first, in a single left-to-right pass, so nested mounts (`/data` and `/data/cache`)
//   resolve to the innermost one and host paths already written are never rewritten again.
// - Values taken from Secrets, ConfigMaps or the downward API are never rewritten: they are data,
//   not the spec's paths, and a password must reach the process byte for byte.
// - `$(VAR)` expansion happens after rewriting, so `$(DIR)` picks up an already-rewritten literal.

export interface PathMapping {
  /** An absolute path as the container would see it. */
  from: string;
  /** The host path that stands in for it. */
  to: string;
}

const PATH_CHAR = "A-Za-z0-9._~\\-";

function normalize(p: string): string {
  let out = p.replace(/\/{2,}/g, "/");
  while (out.length > 1 && out.endsWith("/")) out = out.slice(0, -1);
  return out;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
}

/** Returns a function that rewrites every container-visible path in a string to its host path. */
export function makePathRewriter(mappings: readonly PathMapping[]): (s: string) => string {
  const byFrom = new Map<string, string>();
  for (const m of mappings) {
    const from = normalize(m.from);
    // A mount at `/` (or a relative path) would swallow every absolute path; kubelet rejects relative
    // mount paths and a root mount cannot be emulated by rewriting, so both are left alone.
    if (!from.startsWith("/") || from === "/") continue;
    if (!byFrom.has(from)) byFrom.set(from, m.to);
  }
  if (byFrom.size === 0) return (s) => s;
  const froms = [...byFrom.keys()].sort((a, b) => b.length - a.length);
  const re = new RegExp(`(?<![${PATH_CHAR}/])(?:${froms.map(escapeRegExp).join("|")})(?![${PATH_CHAR}])`, "g");
  return (s) => s.replace(re, (match) => byFrom.get(match) ?? match);
}

// Helpers for the one-document JSON outputs (snapshots, forget, stats). Parsers built on them never
// throw: they return the problem instead, so a surprising restic version fails one step, not the Job.

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

export function parseDocument(stdout: string, what: string): Parsed<unknown> {
  const text = stdout.trim();
  if (text === "") return { ok: false, error: `${what}: restic printed nothing` };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, error: `${what}: restic's output is not JSON (${JSON.stringify(text.slice(0, 80))})` };
  }
}

export function stringArray(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : [];
}

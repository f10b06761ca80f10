// Reading JSON that came from elsewhere (restic, a pod's termination message, a kubeconfig): the
// one test that a parsed value is an object whose fields can be looked at.

/** A plain JSON object: not null, not an array. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

// Label and annotation keys the operator puts on what it creates (sessions, Jobs, their Pods and
// credential Secrets). Labels are how the operator finds its children after a restart, so they are
// set by the pure builders and never by hand.

import { createHash } from "node:crypto";

export const BLOBSTASH_DOMAIN = "blobstash.io";

/** Recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/). */
export const LABEL_MANAGED_BY = "app.kubernetes.io/managed-by";
export const LABEL_NAME = "app.kubernetes.io/name";
/** "backup" or "restore". */
export const LABEL_COMPONENT = "app.kubernetes.io/component";
export const MANAGED_BY = "blobstash";

/** Kind of the session that owns a Job or Secret: BackupSession or RestoreSession. */
export const LABEL_SESSION_KIND = `${BLOBSTASH_DOMAIN}/session-kind`;
/** Name of that session (label-safe: see `labelValue`). */
export const LABEL_SESSION = `${BLOBSTASH_DOMAIN}/session`;
/** Repository the Job writes to or reads from; the operator runs at most one Job per Repository. */
export const LABEL_REPOSITORY = `${BLOBSTASH_DOMAIN}/repository`;
export const LABEL_REPOSITORY_NAMESPACE = `${BLOBSTASH_DOMAIN}/repository-namespace`;

/**
 * Stash's own labels on a BackupSession, kept so `kubectl get backupsession -l` queries written for
 * Stash still work. The BackupConfiguration controller sets them on the sessions it creates.
 */
export const STASH_LABEL_INVOKER_TYPE = "stash.appscode.com/invoker-type";
export const STASH_LABEL_INVOKER_NAME = "stash.appscode.com/invoker-name";

/** On a credentials Secret: when the SAS inside expires (RFC 3339), so the operator can tell a stale one. */
export const ANNOTATION_SAS_EXPIRY = `${BLOBSTASH_DOMAIN}/sas-expiry`;

const LABEL_VALUE_MAX = 63;

/**
 * A label value for an arbitrary object name: names may be up to 253 characters of a DNS subdomain,
 * label values only 63. Long names keep a readable prefix and end in a hash of the whole name, so
 * two different names never share a value.
 */
export function labelValue(name: string): string {
  if (name.length <= LABEL_VALUE_MAX && /^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(name)) return name;
  const hash = shortHash(name);
  const head = name
    .slice(0, LABEL_VALUE_MAX - hash.length - 1)
    .replace(/[^-A-Za-z0-9_.]/g, "-")
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
  return head ? `${head}-${hash}` : hash;
}

/** First 8 hex digits of a SHA-256: enough to tell names apart, short enough for labels. */
export function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}

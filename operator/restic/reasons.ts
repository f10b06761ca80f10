// restic's exit codes and error text, mapped to the reasons a Job result carries. Exit codes come
// first (they are restic's contract: 0 ok, 1 fatal, 3 partial backup, 10 no repository, 11 lock
// failed, 12 wrong password, 130 interrupted); for code 1 the error text decides. The Azure
// patterns match what Azure and Azurite answer (error codes in the response), the network ones what
// Go's net/http and crypto/tls say, and what an HTTP proxy answers a CONNECT it cannot complete
// (Go reports only the status text: "Bad Gateway").

import type { ResultReason } from "../api/result.ts";

export const EXIT_OK = 0;
export const EXIT_FATAL = 1;
export const EXIT_PARTIAL = 3;
export const EXIT_NO_REPOSITORY = 10;
export const EXIT_LOCKED = 11;
export const EXIT_WRONG_PASSWORD = 12;
export const EXIT_INTERRUPTED = 130;

/** Facts outside restic's output that sharpen a reason. */
export interface ReasonContext {
  /** The SAS in the environment is past its `se=` (or before its `st=`). */
  sasExpired?: boolean;
}

const PATTERNS: Array<[RegExp, ResultReason]> = [
  [/no matching ID found|no snapshot matched|no snapshot found|snapshot .* not found/i, "SnapshotNotFound"],
  [/all source directories\/files do not exist/i, "PathNotFound"],
  // restic (0.17+) makes no snapshot of a tree without a single file or directory in it.
  [/snapshot is empty/i, "NothingToBackUp"],
  [/ContainerNotFound|The specified container does not exist/i, "ContainerNotFound"],
  [/Signature not valid in the specified time frame|Signed expiry time|SAS .*expired/i, "SasExpired"],
  [/AuthorizationPermissionMismatch|AuthorizationResourceTypeMismatch|AuthorizationServiceMismatch|not authorized to perform this operation using this permission/i, "PermissionDenied"],
  [/AuthenticationFailed|Server failed to authenticate|InvalidAuthenticationInfo|NoAuthenticationInformation|AuthorizationFailure|Signature did not match/i, "AuthenticationFailed"],
  [/AuthorizationSourceIPMismatch|AuthorizationProtocolMismatch|This request is not authorized/i, "PermissionDenied"],
  [/no space left on device|disk quota exceeded/i, "NoSpaceLeft"],
  [
    /connection refused|no such host|i\/o timeout|TLS handshake|x509:|certificate|connection reset|network is unreachable|no route to host|dial tcp|proxyconnect|context deadline exceeded|Client\.Timeout|unexpected EOF|server misbehaving|RESPONSE 50[0-9]|ServerBusy|OperationTimedOut|Bad Gateway|Service Unavailable|Gateway Timeout/i,
    "NetworkError",
  ],
];

/** The reason for a failed restic run from its exit code and error text (redacted or not). */
export function reasonFor(exitCode: number | undefined, text: string, context: ReasonContext = {}): ResultReason {
  switch (exitCode) {
    case EXIT_OK:
      return "Succeeded";
    case EXIT_PARTIAL:
      return "PartialBackup";
    case EXIT_NO_REPOSITORY:
      return "NotInitialized";
    case EXIT_LOCKED:
      return "RepositoryLocked";
    case EXIT_WRONG_PASSWORD:
      return "WrongPassword";
    case EXIT_INTERRUPTED:
      return "Interrupted";
  }
  for (const [re, reason] of PATTERNS) {
    if (re.test(text)) {
      // An expired SAS is answered like any bad signature; the expiry in the token says which.
      if (reason === "AuthenticationFailed" && context.sasExpired) return "SasExpired";
      return reason;
    }
  }
  return "ResticFailed";
}

/**
 * Whether a SAS token is outside its validity window at `now`: `se=` past or `st=` ahead. A token
 * that cannot be read says nothing (false).
 */
export function sasOutsideValidity(sas: string | undefined, now: Date): boolean {
  if (!sas) return false;
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(sas.startsWith("?") ? sas.slice(1) : sas);
  } catch {
    return false;
  }
  const se = Date.parse(params.get("se") ?? "");
  const st = Date.parse(params.get("st") ?? "");
  return (!Number.isNaN(se) && se <= now.getTime()) || (!Number.isNaN(st) && st > now.getTime());
}

// Turns what @azure/storage-blob and @azure/identity throw into the few failure kinds a Repository
// reports. Network trouble must not look like bad credentials and the other way round: the first
// heals by itself, the second needs the user. Only error codes leave this file, never server text
// (Azure's messages can echo the computed signature).

export type AzureFailureReason =
  | "EndpointUnreachable"
  | "AccountNotFound"
  | "AuthenticationFailed"
  | "PermissionDenied"
  | "ContainerNotFound"
  | "BackendError";

export interface AzureFailure {
  reason: AzureFailureReason;
  /** A short, secret-free description: an error code and HTTP status, or the network error code. */
  detail: string;
  /** Heals without user action (network, 5xx): worth retrying sooner. */
  transient: boolean;
  /** For authentication failures: the identity provider (AAD) refused, not the storage account. */
  identityProvider?: boolean;
  /** The HTTP status, when the service (or a proxy) answered. */
  status?: number;
}

const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ESOCKETTIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "EPIPE",
  "EAI_AGAIN",
  "EPROTO",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_SOCKET",
  "REQUEST_SEND_ERROR",
]);

const TLS_CODES = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** Permission codes: the credential is genuine but may not do this. */
const PERMISSION_CODES = new Set([
  "AuthorizationPermissionMismatch",
  "AuthorizationResourceTypeMismatch",
  "AuthorizationServiceMismatch",
  "AuthorizationProtocolMismatch",
  "AuthorizationSourceIPMismatch",
  "InsufficientAccountPermissions",
  "KeyBasedAuthenticationNotPermitted",
]);

/** 400s that mean the credential itself is unusable (e.g. a SAS with a bad field, a malformed Authorization header). */
const AUTH_CODES_400 = new Set(["InvalidAuthenticationInfo", "AuthenticationFailed", "InvalidQueryParameterValue", "InvalidHeaderValue"]);

interface ErrorLike {
  name?: unknown;
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  cause?: unknown;
  errors?: unknown;
  errorResponse?: { error?: unknown };
}

/** `hint` says what was being attempted, which disambiguates a bare 403 on a HEAD request. */
export function classifyAzureError(err: unknown, hint: { authenticated?: boolean } = {}): AzureFailure {
  const failure = classify(err, hint);
  const status = (err as ErrorLike | undefined)?.statusCode;
  return typeof status === "number" && failure.status === undefined ? { ...failure, status } : failure;
}

function classify(err: unknown, hint: { authenticated?: boolean }): AzureFailure {
  const e = (err ?? {}) as ErrorLike;
  const name = typeof e.name === "string" ? e.name : "";
  const code = typeof e.code === "string" ? e.code : "";
  const status = typeof e.statusCode === "number" ? e.statusCode : undefined;
  const message = typeof e.message === "string" ? e.message : "";

  if (name === "CredentialUnavailableError") {
    return { reason: "AuthenticationFailed", detail: "no Azure identity is available to the operator (CredentialUnavailableError)", transient: false, identityProvider: true };
  }
  if (name === "AggregateAuthenticationError" && Array.isArray(e.errors) && e.errors.length) {
    // DefaultAzureCredential tried several; the last one is the most specific (workload identity comes late).
    return classify(e.errors[e.errors.length - 1], hint);
  }
  if (name === "AuthenticationError") {
    const aad = typeof e.errorResponse?.error === "string" ? e.errorResponse.error : "authentication error";
    const net = networkCode(e.cause) ?? (causeCode(e.cause) === "ENOTFOUND" ? "ENOTFOUND" : undefined) ?? networkCodeInMessage(message);
    if (net) return { reason: "EndpointUnreachable", detail: `identity provider unreachable (${net})`, transient: true, identityProvider: true };
    return { reason: "AuthenticationFailed", detail: `the identity provider refused the login (${aad}${status ? `, HTTP ${status}` : ""})`, transient: false, identityProvider: true };
  }

  if (name === "AbortError" || code === "ABORT_ERR") return { reason: "EndpointUnreachable", detail: "request timed out", transient: true };
  const net = NETWORK_CODES.has(code) ? code : networkCode(e.cause);
  if (net) return { reason: "EndpointUnreachable", detail: net, transient: true };
  if (code === "ENOTFOUND" || causeCode(e.cause) === "ENOTFOUND") return { reason: "AccountNotFound", detail: "host name does not resolve (ENOTFOUND)", transient: false };
  if (TLS_CODES.has(code)) return { reason: "EndpointUnreachable", detail: `TLS certificate not trusted (${code})`, transient: false };
  if (status === undefined) {
    const inMessage = networkCodeInMessage(message);
    if (inMessage) return { reason: "EndpointUnreachable", detail: inMessage, transient: true };
    if (/proxy|tunnel/i.test(message)) return { reason: "EndpointUnreachable", detail: "the HTTPS proxy could not connect", transient: true };
    return { reason: "EndpointUnreachable", detail: code || name || "no response", transient: true };
  }

  const withStatus = (c: string) => `${c || "no error code"}, HTTP ${status}`;
  if (status === 404) {
    if (code === "ContainerNotFound") return { reason: "ContainerNotFound", detail: withStatus(code), transient: false };
    // Azurite answers an unknown account (path-style or host-style) with ResourceNotFound; Azure's DNS has no record.
    if (code === "ResourceNotFound" || code === "AccountNotFound") return { reason: "AccountNotFound", detail: withStatus(code), transient: false };
    return { reason: "BackendError", detail: withStatus(code), transient: false };
  }
  if (status === 403 || status === 401) {
    if (PERMISSION_CODES.has(code)) return { reason: "PermissionDenied", detail: withStatus(code), transient: false };
    if (code === "AuthenticationFailed" || code === "InvalidAuthenticationInfo" || code === "NoAuthenticationInformation") {
      return { reason: "AuthenticationFailed", detail: withStatus(code), transient: false };
    }
    if (code === "AuthorizationFailure") {
      // Azure uses it for firewall and network rules; Azurite also for a wrong shared key or signature.
      if (/failed to authenticate|signature/i.test(message)) return { reason: "AuthenticationFailed", detail: withStatus(code), transient: false };
      return { reason: "PermissionDenied", detail: `${withStatus(code)}: denied by the account's network rules or policy`, transient: false };
    }
    // A HEAD response has no body, so no code: once a request with the same credential succeeded, it is about permission.
    if (!code && hint.authenticated) return { reason: "PermissionDenied", detail: withStatus(code), transient: false };
    return { reason: "AuthenticationFailed", detail: withStatus(code), transient: false };
  }
  if (status === 400 && AUTH_CODES_400.has(code)) return { reason: "AuthenticationFailed", detail: withStatus(code), transient: false };
  // A gateway error without Azure's error code comes from a proxy in between, not from Azure.
  if ((status === 502 || status === 503 || status === 504) && !code) {
    return { reason: "EndpointUnreachable", detail: `HTTP ${status} from a proxy between the operator and Azure`, transient: true };
  }
  if (status >= 500 || status === 408 || status === 429) return { reason: "BackendError", detail: withStatus(code), transient: true };
  return { reason: "BackendError", detail: withStatus(code), transient: false };
}

function networkCode(cause: unknown): string | undefined {
  let c = cause as ErrorLike | undefined;
  for (let depth = 0; c && depth < 5; depth++) {
    if (typeof c.code === "string" && NETWORK_CODES.has(c.code)) return c.code;
    c = c.cause as ErrorLike | undefined;
  }
  return undefined;
}

function causeCode(cause: unknown): string | undefined {
  const c = cause as ErrorLike | undefined;
  return typeof c?.code === "string" ? c.code : undefined;
}

function networkCodeInMessage(message: string): string | undefined {
  const m = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND|socket hang up)\b/.exec(message);
  return m?.[1];
}

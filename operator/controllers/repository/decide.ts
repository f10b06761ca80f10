// From what a reconcile observed to the Repository's conditions. Pure and exhaustive: every reason a
// user can see is produced here, with a message that names the key, container, account and the next
// step, and that stays the same from one check to the next while nothing changes (relative times
// would make every revalidation a status write).

import { type Condition, type ConditionInput, findCondition, summarize } from "../../api/conditions.ts";
import { type RepositoryConditionType, type RepositoryStatus, resticRepositoryUrl } from "../../api/repository.ts";
import { type AzureCredentials, SECRET_KEYS, type StorageSecret } from "../../azure/credentials.ts";
import { blobServiceUrl } from "../../azure/endpoint.ts";
import type { AzureFailure } from "../../azure/errors.ts";
import { type BackendProbe, PERMISSION_FOR_STEP } from "../../azure/probe.ts";
import { BACKUP_PERMISSIONS, missingPermissions, type SasValidity } from "../../azure/sas.ts";

export type SecretObservation =
  | { state: "unspecified" }
  | { state: "invalidName"; name: string }
  | { state: "notFound"; name: string }
  | { state: "read"; name: string; parsed: StorageSecret; sas?: SasValidity };

export type PasswordObservation =
  | { result: "match"; keyName: string }
  | { result: "mismatch"; keysTried: number }
  | { result: "noKeys" }
  /** restic stops at this key file before it finds the password's (see password-check.ts). */
  | { result: "keyUnusable"; keyName: string; problem: string }
  /** The password opens this key, but its master key does not open the config: restic stops too. */
  | { result: "configDamaged"; keyName: string; detail: string }
  /** restic tries 20 key files and gives up; none of those opened. */
  | { result: "tooManyKeys"; keysTried: number }
  /** The check took longer than its time limit (waiting for a key derivation slot included). */
  | { result: "timedOut"; afterSeconds: number; keysTried: number }
  | { result: "error"; failure: AzureFailure };

export interface RepositoryObservation {
  namespace: string;
  generation?: number;
  container: string;
  prefix?: string;
  secret: SecretObservation;
  /** Absent when the Secret did not allow a probe. */
  backend?: BackendProbe;
  /** Absent when the repository is not initialized or the backend failed. */
  password?: PasswordObservation;
  /** What the spec asks that no backend check can fix (a prefix Azure cannot hold): nothing is probed. */
  specProblem?: { reason: string; message: string };
  /** A check that threw where it should not have: reported rather than retried in silence. */
  checkError?: string;
  /** status.lastBackupTime: a backup went into this repository, so a missing config means lost data. */
  lastBackupTime?: string;
}

type Input = ConditionInput<RepositoryConditionType>;

/** Not blocking: the next backup runs `restic init` (with DataLost, into a place whose snapshots vanished). */
const INITIALIZES_ON_FIRST_BACKUP = new Set(["NotInitialized", "DataLost"]);
/** Reasons a Ready=True Repository still shows (and records as a Warning event when they appear, except NotInitialized). */
export const WARNING_REASONS = new Set(["SasExpiringSoon", "NotInitialized", "DataLost"]);

export const READY_DEPENDS_ON: readonly RepositoryConditionType[] = ["SecretValid", "BackendReachable", "RepositoryInitialized", "PasswordValid"];

/** The five conditions, Ready last. */
export function decideConditions(o: RepositoryObservation): Input[] {
  const gen = o.generation === undefined ? {} : { observedGeneration: o.generation };
  const c = (type: RepositoryConditionType, status: Input["status"], reason: string, message: string): Input => ({ type, status, reason, message, ...gen });
  const repoUrl = resticRepositoryUrl({ container: o.container, ...(o.prefix !== undefined ? { prefix: o.prefix } : {}) });

  const secretValid = decideSecret(o, c);
  const notChecked = (type: RepositoryConditionType, blocker: string): Input => c(type, "Unknown", "NotChecked", `not checked until ${blocker} is True`);

  let backendReachable: Input;
  let initialized: Input;
  let passwordValid: Input;
  const creds = o.secret.state === "read" && o.secret.parsed.ok ? o.secret.parsed.credentials : undefined;
  if (o.specProblem) {
    backendReachable = c("BackendReachable", "False", o.specProblem.reason, o.specProblem.message);
    initialized = notChecked("RepositoryInitialized", "BackendReachable");
    passwordValid = notChecked("PasswordValid", "BackendReachable");
  } else if (secretValid.status !== "True" || !creds) {
    backendReachable = notChecked("BackendReachable", "SecretValid");
    initialized = notChecked("RepositoryInitialized", "SecretValid");
    passwordValid = notChecked("PasswordValid", "SecretValid");
  } else if (o.checkError !== undefined || !o.backend) {
    backendReachable = c("BackendReachable", "Unknown", "CheckFailed", `checking ${repoUrl} failed: ${o.checkError ?? "no result"}; retrying`);
    initialized = notChecked("RepositoryInitialized", "BackendReachable");
    passwordValid = notChecked("PasswordValid", "BackendReachable");
  } else if (!o.backend.ok) {
    backendReachable = c("BackendReachable", "False", o.backend.failure.reason, backendMessage(o, creds, o.backend));
    initialized = notChecked("RepositoryInitialized", "BackendReachable");
    passwordValid = notChecked("PasswordValid", "BackendReachable");
  } else {
    backendReachable = c(
      "BackendReachable",
      "True",
      "Reachable",
      `container ${o.container} in storage account ${creds.accountName} allows list, write, delete and read for ${describeCredential(creds, secretName(o))}`,
    );
    if (o.backend.initialized) {
      initialized = c("RepositoryInitialized", "True", "Initialized", `restic repository found at ${repoUrl}`);
      passwordValid = decidePassword(o, c, repoUrl);
    } else if (o.lastBackupTime) {
      initialized = c(
        "RepositoryInitialized",
        "False",
        "DataLost",
        `no restic repository at ${repoUrl} (no config blob), although a backup into it finished at ${o.lastBackupTime}: its snapshots were deleted ` +
          "outside this Repository (another Repository's wipeOut, a lifecycle rule, by hand), or spec.backend now points elsewhere. " +
          "Recover them from the container's soft delete or versioning if enabled; the next backup starts a new, empty repository",
      );
      passwordValid = c("PasswordValid", "Unknown", "NotInitialized", `nothing to check until a backup initializes ${repoUrl}`);
    } else {
      initialized = c("RepositoryInitialized", "False", "NotInitialized", `no restic repository at ${repoUrl} yet (no config blob); the first backup initializes it`);
      passwordValid = c("PasswordValid", "Unknown", "NotInitialized", `nothing to check until a backup initializes ${repoUrl}`);
    }
  }

  const conditions = [secretValid, backendReachable, initialized, passwordValid];
  const ready = summarize(
    conditions.map((x) => ({ ...x, lastTransitionTime: "" })),
    {
      type: "Ready" as const,
      dependsOn: READY_DEPENDS_ON,
      isBlocking: (x) => x?.status !== "True" && !INITIALIZES_ON_FIRST_BACKUP.has(x?.reason ?? ""),
      isWarning: (x) => WARNING_REASONS.has(x.reason),
      readyReason: "Ready",
      readyMessage: `backups can run: ${repoUrl} is reachable and RESTIC_PASSWORD opens it`,
      ...gen,
    },
  );
  return [...conditions, ready];
}

/** Kubernetes object names (DNS-1123 subdomain): what a Secret's name must be. */
/**
 * The snapshot figures the status must change along with `conditions`: where no restic repository
 * is (NotInitialized, DataLost) there are no snapshots, and saying so in the same write spares the
 * snapshot controller a listing and a second status write per new Repository. Empty when the
 * figures already agree.
 */
export function figuresFor(status: RepositoryStatus, conditions: readonly Condition[]): Pick<RepositoryStatus, "snapshotCount" | "totalSize"> {
  if (findCondition(conditions, "RepositoryInitialized")?.status !== "False") return {};
  if (status.snapshotCount === 0 && status.totalSize === undefined) return {};
  return { snapshotCount: 0, totalSize: undefined };
}

export function isValidSecretName(name: string): boolean {
  return name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);
}

/** A valid name close to an invalid one (lowercased, other characters as "-"), or undefined when none is. */
export function suggestSecretName(name: string): string | undefined {
  const candidate = name
    .toLowerCase()
    .replace(/[^-a-z0-9.]+/g, "-")
    .replace(/\.{2,}/g, ".")
    .replace(/-*\.-*/g, ".")
    .replace(/^[-.]+|[-.]+$/g, "")
    .slice(0, 253)
    .replace(/[-.]+$/, "");
  return candidate && isValidSecretName(candidate) ? candidate : undefined;
}

function secretName(o: RepositoryObservation): string {
  return o.secret.state === "unspecified" ? "" : o.secret.name;
}

function decideSecret(o: RepositoryObservation, c: (t: RepositoryConditionType, s: Input["status"], r: string, m: string) => Input): Input {
  const s = o.secret;
  if (s.state === "unspecified") {
    return c("SecretValid", "False", "SecretNotSpecified", "spec.backend.storageSecretName is empty: name the Secret that holds RESTIC_PASSWORD and the Azure credentials");
  }
  if (s.state === "invalidName") {
    const fix = suggestSecretName(s.name);
    return c(
      "SecretValid",
      "False",
      "SecretNameInvalid",
      `spec.backend.storageSecretName "${s.name}" is not a valid Secret name (lowercase letters, digits, "-" and ".", starting and ending with a letter or digit, ` +
        `at most 253 characters), so no Secret can have it: name the Secret that holds the credentials${fix ? `, e.g. "${fix}"` : ""}`,
    );
  }
  if (s.state === "notFound") {
    return c(
      "SecretValid",
      "False",
      "SecretNotFound",
      `Secret ${s.name} not found in namespace ${o.namespace} (a Repository only reads Secrets in its own namespace): create it, e.g. ` +
        `kubectl create secret generic -n ${o.namespace} ${s.name} --from-file=./RESTIC_PASSWORD --from-file=./AZURE_ACCOUNT_NAME --from-file=./AZURE_ACCOUNT_KEY`,
    );
  }
  if (!s.parsed.ok) return c("SecretValid", "False", s.parsed.reason, s.parsed.message);
  const creds = s.parsed.credentials;
  const notes = s.parsed.notes.length ? `; ${s.parsed.notes.join("; ")}` : "";
  if (creds.mode === "sas" && s.sas) {
    const where = `the SAS in ${SECRET_KEYS.accountSas} of Secret ${s.name}`;
    const renew = `put a new SAS into the Secret (e.g. az storage container generate-sas --account-name ${creds.accountName} --name ${o.container} --permissions ${BACKUP_PERMISSIONS} --expiry <date>)`;
    switch (s.sas.state) {
      case "expired":
        return c("SecretValid", "False", "SasExpired", `${where} expired at ${iso(s.sas.expiresOn)}: ${renew}`);
      case "notYetValid":
        return c("SecretValid", "False", "SasNotYetValid", `${where} is valid only from ${iso(s.sas.startsOn)} (st): wait, or ${renew}`);
      case "expiringSoon":
        return c("SecretValid", "True", "SasExpiringSoon", `${where} expires at ${iso(s.sas.expiresOn)}: ${renew} before then${notes}`);
      case "valid":
        break;
    }
  }
  const validUntil = creds.mode === "sas" ? ` valid until ${iso(creds.sas.expiresOn)}` : "";
  return c(
    "SecretValid",
    "True",
    "Valid",
    `Secret ${s.name} holds RESTIC_PASSWORD and ${describeMode(creds)}${validUntil} for storage account ${creds.accountName} at ${blobServiceUrl(creds.accountName, creds.endpointSuffix)}${notes}`,
  );
}

function describeMode(c: AzureCredentials): string {
  switch (c.mode) {
    case "accountKey":
      return `an account key (${SECRET_KEYS.accountKey})`;
    case "sas":
      return `a SAS token (${SECRET_KEYS.accountSas})`;
    case "servicePrincipal":
      return `service principal ${c.clientId} of tenant ${c.tenantId}`;
    case "workloadIdentity":
      return "no credential, so the operator's workload identity is used";
  }
}

function describeCredential(c: AzureCredentials, secret: string): string {
  switch (c.mode) {
    case "accountKey":
      return `the account key in ${SECRET_KEYS.accountKey} of Secret ${secret}`;
    case "sas":
      return `the SAS in ${SECRET_KEYS.accountSas} of Secret ${secret}`;
    case "servicePrincipal":
      return `service principal ${c.clientId}`;
    case "workloadIdentity":
      return "the operator's workload identity";
  }
}

function backendMessage(o: RepositoryObservation, creds: AzureCredentials, probe: Extract<BackendProbe, { ok: false }>): string {
  const f = probe.failure;
  const secret = secretName(o);
  const who = describeCredential(creds, secret);
  const url = blobServiceUrl(creds.accountName, creds.endpointSuffix);
  const detail = `(${f.detail})`;
  switch (f.reason) {
    case "EndpointUnreachable":
      return f.identityProvider
        ? `cannot reach the Azure AD endpoint to log in ${detail}: check the operator's egress to login.microsoftonline.com (or AZURE_AUTHORITY_HOST); retrying`
        : `cannot reach ${url} ${detail}: check the network path from the operator (egress rules, proxy, DNS, TLS trust) and AZURE_ENDPOINT_SUFFIX; retrying`;
    case "AccountNotFound":
      return `storage account ${creds.accountName} not found at ${url} ${detail}: check ${SECRET_KEYS.accountName} and ${SECRET_KEYS.endpointSuffix} in Secret ${secret}`;
    case "ContainerNotFound":
      return `container ${o.container} does not exist in storage account ${creds.accountName}: create it (az storage container create --account-name ${creds.accountName} --name ${o.container}) or fix spec.backend.azure.container`;
    case "AuthenticationFailed":
      switch (creds.mode) {
        case "accountKey":
          return `storage account ${creds.accountName} rejected ${who} ${detail}: put a current key of this account into the Secret (keys may have been rotated)`;
        case "sas":
          return creds.sas.kind === "service" && creds.sas.resource === "c"
            ? `storage account ${creds.accountName} rejected ${who} for container ${o.container} ${detail}: it is a container SAS (sr=c), and its signature does not ` +
                `match container ${o.container}, so it was signed for another container (or account, or with a rotated key). Generate one for this container: ` +
                `az storage container generate-sas --account-name ${creds.accountName} --name ${o.container} --permissions ${BACKUP_PERMISSIONS} --expiry <date>`
            : `storage account ${creds.accountName} rejected ${who} ${detail}: it is signed for another account, with a rotated key, or was revoked; generate a new SAS`;
        case "servicePrincipal":
          return f.identityProvider
            ? `Azure AD refused ${who} of tenant ${creds.tenantId} ${detail}: check ${SECRET_KEYS.tenantId}, ${SECRET_KEYS.clientId} and ${SECRET_KEYS.clientSecret} in Secret ${secret} (the client secret may have expired)`
            : `storage account ${creds.accountName} rejected the token of ${who} ${detail}: the account may belong to another tenant than ${creds.tenantId}`;
        case "workloadIdentity":
          return `${who} could not authenticate ${detail}: set up Azure workload identity for the operator's ServiceAccount, or put credentials into Secret ${secret}`;
      }
      break;
    case "PermissionDenied": {
      const perm = PERMISSION_FOR_STEP[probe.step];
      const base = `${who} may not ${perm} on container ${o.container} ${detail}`;
      switch (creds.mode) {
        case "sas": {
          const lacking = missingPermissions(creds.sas.permissions, BACKUP_PERMISSIONS);
          return `${base}: backups need sp=${BACKUP_PERMISSIONS}${lacking ? ` and this SAS lacks "${lacking}"` : ""}; generate a SAS with those permissions`;
        }
        case "servicePrincipal":
        case "workloadIdentity":
          return `${base}: assign the role Storage Blob Data Contributor on the container or account`;
        case "accountKey":
          return `${base}: the account's network rules or policies (e.g. shared key access disabled) refuse the operator`;
      }
      break;
    }
    case "BackendError":
      if (f.status === 431 || f.status === 414) {
        const what = creds.mode === "sas" ? `the SAS in ${SECRET_KEYS.accountSas} of Secret ${secret} is ${creds.sas.token.length} characters long` : "the request was too long";
        return `${url} refused the request as too large ${detail}: ${what}; a SAS token is a few hundred characters: put exactly one token into the Secret`;
      }
      return `${url} answered with an error ${detail} while checking ${PERMISSION_FOR_STEP[probe.step]} on container ${o.container}; retrying`;
  }
  return `${url}: ${f.reason} ${detail}`;
}

function decidePassword(o: RepositoryObservation, c: (t: RepositoryConditionType, s: Input["status"], r: string, m: string) => Input, repoUrl: string): Input {
  const secret = secretName(o);
  const p = o.password;
  if (!p) return c("PasswordValid", "Unknown", "NotChecked", "the password has not been checked yet");
  switch (p.result) {
    case "match":
      return c("PasswordValid", "True", "PasswordAccepted", `RESTIC_PASSWORD of Secret ${secret} opens key ${p.keyName.slice(0, 8)} of ${repoUrl}`);
    case "mismatch":
      return c(
        "PasswordValid",
        "False",
        "WrongPassword",
        `RESTIC_PASSWORD of Secret ${secret} opens none of the ${p.keysTried} key(s) of ${repoUrl}: put the repository's password into the Secret, ` +
          "or add this password as a key with restic key add",
      );
    case "noKeys":
      return c("PasswordValid", "False", "KeyFilesMissing", `${repoUrl} has a config but no readable key file under keys/: the repository is damaged or incompletely copied`);
    case "keyUnusable":
      return c(
        "PasswordValid",
        "False",
        "KeyFileInvalid",
        `key file keys/${p.keyName} of ${repoUrl} cannot be used: ${p.problem}. restic tries key files in name order and stops at the first one it cannot ` +
          "use, before it reaches the one RESTIC_PASSWORD opens, so every backup would fail: delete that blob if it is no key you need, or put the original back",
      );
    case "configDamaged":
      return c(
        "PasswordValid",
        "False",
        "ConfigOrKeyDamaged",
        `RESTIC_PASSWORD of Secret ${secret} opens key keys/${p.keyName} of ${repoUrl}, but ${p.detail}: restic stops with "config or key is damaged". ` +
          "A key file copied in from another repository does this: delete that blob (it is not a key of this repository), or restore the repository's own config",
      );
    case "tooManyKeys":
      return c(
        "PasswordValid",
        "False",
        "TooManyKeyFiles",
        `${repoUrl} has more than 20 key files and RESTIC_PASSWORD opens none of the first ${p.keysTried}: restic tries at most 20 and gives up. ` +
          "Remove keys no longer used (restic key list, restic key remove)",
      );
    case "timedOut":
      return c(
        "PasswordValid",
        "Unknown",
        "PasswordCheckTimedOut",
        `checking RESTIC_PASSWORD of Secret ${secret} against the key files of ${repoUrl} took longer than ${p.afterSeconds} s ` +
          `(${p.keysTried} key(s) tried; each costs what its scrypt parameters ask, and the operator derives two at a time); retrying at the next revalidation`,
      );
    case "error":
      return c("PasswordValid", "Unknown", p.failure.reason, `could not read the key files of ${repoUrl} (${p.failure.detail}); retrying`);
  }
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

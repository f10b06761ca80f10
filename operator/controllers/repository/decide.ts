// From what a reconcile observed to the Repository's conditions. Pure and exhaustive: every reason a
// user can see is produced here, with a message that names the key, container, account and the next
// step, and that stays the same from one check to the next while nothing changes (relative times
// would make every revalidation a status write).

import { type ConditionInput, summarize } from "../../api/conditions.ts";
import { type RepositoryConditionType, resticRepositoryUrl } from "../../api/repository.ts";
import { type AzureCredentials, SECRET_KEYS, type StorageSecret } from "../../azure/credentials.ts";
import { blobServiceUrl } from "../../azure/endpoint.ts";
import type { AzureFailure } from "../../azure/errors.ts";
import { type BackendProbe, PERMISSION_FOR_STEP } from "../../azure/probe.ts";
import { BACKUP_PERMISSIONS, missingPermissions, type SasValidity } from "../../azure/sas.ts";

export type SecretObservation =
  | { state: "unspecified" }
  | { state: "notFound"; name: string }
  | { state: "read"; name: string; parsed: StorageSecret; sas?: SasValidity };

export type PasswordObservation =
  | { result: "match"; keyName: string }
  | { result: "mismatch"; keysTried: number }
  | { result: "noKeys" }
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
}

type Input = ConditionInput<RepositoryConditionType>;

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
  if (secretValid.status !== "True" || !creds || !o.backend) {
    backendReachable = notChecked("BackendReachable", "SecretValid");
    initialized = notChecked("RepositoryInitialized", "SecretValid");
    passwordValid = notChecked("PasswordValid", "SecretValid");
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
      isBlocking: (x) => x?.status !== "True" && x?.reason !== "NotInitialized",
      isWarning: (x) => x.reason === "SasExpiringSoon" || x.reason === "NotInitialized",
      readyReason: "Ready",
      readyMessage: `backups can run: ${repoUrl} is reachable and RESTIC_PASSWORD opens it`,
      ...gen,
    },
  );
  return [...conditions, ready];
}

function secretName(o: RepositoryObservation): string {
  return o.secret.state === "unspecified" ? "" : o.secret.name;
}

function decideSecret(o: RepositoryObservation, c: (t: RepositoryConditionType, s: Input["status"], r: string, m: string) => Input): Input {
  const s = o.secret;
  if (s.state === "unspecified") {
    return c("SecretValid", "False", "SecretNotSpecified", "spec.backend.storageSecretName is empty: name the Secret that holds RESTIC_PASSWORD and the Azure credentials");
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
          return `storage account ${creds.accountName} rejected ${who} ${detail}: it is signed for another account, with a rotated key, or was revoked; generate a new SAS`;
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

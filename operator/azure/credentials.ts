// Reads a storage Secret (DESIGN.md, "Credentials"): which of the four credential modes it holds,
// whether its values are usable, and what to tell the user when not. Pure; messages name keys,
// never values.

import { accountNameProblem, DEFAULT_ENDPOINT_SUFFIX, endpointSuffixProblem } from "./endpoint.ts";
import { type ParsedSas, parseSas } from "./sas.ts";

export const SECRET_KEYS = {
  resticPassword: "RESTIC_PASSWORD",
  accountName: "AZURE_ACCOUNT_NAME",
  accountKey: "AZURE_ACCOUNT_KEY",
  accountSas: "AZURE_ACCOUNT_SAS",
  tenantId: "AZURE_TENANT_ID",
  clientId: "AZURE_CLIENT_ID",
  clientSecret: "AZURE_CLIENT_SECRET",
  endpointSuffix: "AZURE_ENDPOINT_SUFFIX",
} as const;

export type CredentialMode = "accountKey" | "sas" | "servicePrincipal" | "workloadIdentity";

interface Common {
  accountName: string;
  endpointSuffix: string;
}

export type AzureCredentials =
  | (Common & { mode: "accountKey"; accountKey: string })
  | (Common & { mode: "sas"; sas: ParsedSas })
  | (Common & { mode: "servicePrincipal"; tenantId: string; clientId: string; clientSecret: string })
  | (Common & { mode: "workloadIdentity" });

export type SecretProblemReason = "SecretKeyMissing" | "SecretValueMalformed";

export type StorageSecret =
  | {
      ok: true;
      credentials: AzureCredentials;
      /** Trimmed of a trailing newline, like every other value here. */
      resticPassword: string;
      /** Things worth telling the user although nothing is wrong (trimmed newlines, ignored keys). */
      notes: string[];
    }
  | { ok: false; reason: SecretProblemReason; message: string; notes: string[] };

export const MODE_DESCRIPTIONS: Record<CredentialMode, string> = {
  accountKey: "an account key",
  sas: "a SAS token",
  servicePrincipal: "a service principal",
  workloadIdentity: "workload identity (no credential in the Secret)",
};

/** Decodes V1Secret.data (base64 values). Values that are not valid UTF-8 are kept as decoded. */
export function decodeSecretData(data: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
  return out;
}

/** Every value in the Secret that could be sensitive, for log redaction (RESTIC_PASSWORD included). */
export function sensitiveValues(data: Record<string, string>): string[] {
  const keys = [SECRET_KEYS.resticPassword, SECRET_KEYS.accountKey, SECRET_KEYS.accountSas, SECRET_KEYS.clientSecret];
  return keys.map((k) => data[k]).filter((v): v is string => !!v);
}

/**
 * Classifies a decoded Secret. Precedence follows restic (key before SAS), then service principal,
 * then workload identity; keys of a lower-precedence mode that are present are named in `notes`.
 */
export function parseStorageSecret(
  data: Record<string, string>,
  options: { secretName: string; defaultEndpointSuffix?: string },
): StorageSecret {
  const notes: string[] = [];
  const trimmed: string[] = [];
  const get = (key: string): string | undefined => {
    const raw = data[key];
    if (raw === undefined) return undefined;
    const value = raw.replace(/(\r?\n)+$/, "");
    if (value !== raw) trimmed.push(key);
    return value;
  };
  const s = `Secret ${options.secretName}`;
  const fail = (reason: SecretProblemReason, message: string): StorageSecret => ({ ok: false, reason, message, notes });

  const resticPassword = get(SECRET_KEYS.resticPassword);
  const accountName = get(SECRET_KEYS.accountName);
  const accountKey = get(SECRET_KEYS.accountKey);
  const sas = get(SECRET_KEYS.accountSas);
  const tenantId = get(SECRET_KEYS.tenantId);
  const clientId = get(SECRET_KEYS.clientId);
  const clientSecret = get(SECRET_KEYS.clientSecret);
  const suffixValue = get(SECRET_KEYS.endpointSuffix);

  const missing: string[] = [];
  if (!resticPassword) missing.push(SECRET_KEYS.resticPassword);
  if (!accountName) missing.push(SECRET_KEYS.accountName);
  if (missing.length) {
    const present = Object.keys(data).sort();
    return fail(
      "SecretKeyMissing",
      `${s} has no ${joinKeys(missing)} (or ${missing.length > 1 ? "they are" : "it is"} empty); it has ${present.length ? joinKeys(present) : "no keys"}. ` +
        `Add ${missing.length > 1 ? "them" : "it"}, e.g. kubectl create secret generic ${options.secretName} --from-file=./${missing[0]} ...`,
    );
  }

  const nameProblem = accountNameProblem(accountName!);
  if (nameProblem) return fail("SecretValueMalformed", `${s}: ${SECRET_KEYS.accountName} ${nameProblem}.`);

  const endpointSuffix = suffixValue || options.defaultEndpointSuffix || DEFAULT_ENDPOINT_SUFFIX;
  const suffixProblem = endpointSuffixProblem(endpointSuffix);
  if (suffixProblem) {
    const where = suffixValue ? `${s}: ${SECRET_KEYS.endpointSuffix}` : "the operator's default endpoint suffix";
    return fail("SecretValueMalformed", `${where} ${suffixProblem}.`);
  }
  const common = { accountName: accountName!, endpointSuffix };

  const spKeys = [SECRET_KEYS.tenantId, SECRET_KEYS.clientId, SECRET_KEYS.clientSecret];
  const spPresent = spKeys.filter((k) => data[k] !== undefined);
  const ignore = (keys: string[], because: string): void => {
    if (keys.length) notes.push(`${joinKeys(keys)} ignored because ${because} is set`);
  };

  let credentials: AzureCredentials;
  if (accountKey !== undefined) {
    if (accountKey === "") return fail("SecretValueMalformed", `${s}: ${SECRET_KEYS.accountKey} is empty.`);
    if (!isBase64(accountKey)) {
      return fail("SecretValueMalformed", `${s}: ${SECRET_KEYS.accountKey} is not base64; copy the key from the storage account's Access keys page (az storage account keys list).`);
    }
    ignore([...(sas !== undefined ? [SECRET_KEYS.accountSas] : []), ...spPresent], SECRET_KEYS.accountKey);
    credentials = { ...common, mode: "accountKey", accountKey };
  } else if (sas !== undefined) {
    const parsed = parseSas(sas);
    if (!parsed.ok) return fail("SecretValueMalformed", `${s}: ${SECRET_KEYS.accountSas} ${parsed.problem}.`);
    ignore(spPresent, SECRET_KEYS.accountSas);
    credentials = { ...common, mode: "sas", sas: parsed.sas };
  } else if (spPresent.length) {
    const spMissing = spKeys.filter((k) => !get(k));
    if (spMissing.length) {
      return fail(
        "SecretKeyMissing",
        `${s} has ${joinKeys(spPresent)} but no ${joinKeys(spMissing)}: a service principal needs all three. ` +
          `For workload identity, keep only ${SECRET_KEYS.accountName} (and ${SECRET_KEYS.resticPassword}).`,
      );
    }
    if (!isGuid(clientId!)) return fail("SecretValueMalformed", `${s}: ${SECRET_KEYS.clientId} must be the application (client) ID, a GUID.`);
    if (!isGuid(tenantId!) && !/^[a-z0-9.-]+\.[a-z]{2,}$/i.test(tenantId!)) {
      return fail("SecretValueMalformed", `${s}: ${SECRET_KEYS.tenantId} must be the directory (tenant) ID, a GUID or a domain name.`);
    }
    credentials = { ...common, mode: "servicePrincipal", tenantId: tenantId!, clientId: clientId!, clientSecret: clientSecret! };
  } else {
    credentials = { ...common, mode: "workloadIdentity" };
  }

  if (trimmed.length) {
    notes.unshift(`a trailing newline was removed from ${joinKeys(trimmed)} (backup Jobs use the trimmed value${trimmed.includes(SECRET_KEYS.resticPassword) ? ", as restic --password-file does" : ""})`);
  }
  return { ok: true, credentials, resticPassword: resticPassword!, notes };
}

function isBase64(value: string): boolean {
  return value.length > 0 && value.length % 4 === 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(value);
}

function isGuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}

function joinKeys(keys: string[]): string {
  if (keys.length <= 1) return keys.join("");
  return `${keys.slice(0, -1).join(", ")} and ${keys[keys.length - 1]}`;
}

// Reads a storage Secret (DESIGN.md, "Credentials"): which of the four credential modes it holds,
// whether its values are usable, and what to tell the user when not. Pure; messages name keys,
// never values.

import { isUtf8 } from "node:buffer";
import { type AzureAdminPolicy, endpointRefusal } from "./admin-policy.ts";
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

export type SecretProblemReason = "SecretKeyMissing" | "SecretValueMalformed" | "PasswordNotText" | "EndpointNotAllowed" | "OperatorIdentityNotAllowed";

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

/** Decodes V1Secret.data (base64 values). Values that are not valid UTF-8 are kept as decoded (lossily). */
export function decodeSecretData(data: Record<string, string> | undefined): Record<string, string> {
  return decodeWithProblems(data).values;
}

function decodeWithProblems(data: Record<string, string> | undefined): { values: Record<string, string>; notText: Record<string, string> } {
  const values: Record<string, string> = {};
  const notText: Record<string, string> = {};
  for (const [k, v] of Object.entries(data ?? {})) {
    const bytes = Buffer.from(v, "base64");
    values[k] = bytes.toString("utf8");
    const problem = notTextProblem(bytes);
    if (problem) notText[k] = problem;
  }
  return { values, notText };
}

/**
 * Why these bytes cannot travel as text, or undefined. Every way a value reaches restic in a Job
 * (the per-Job Secret's env var, through the container runtime's text fields and the wrapper's
 * Node process) carries text: invalid UTF-8 would arrive as other bytes (U+FFFD), and a NUL ends
 * an environment variable.
 */
function notTextProblem(bytes: Buffer): string | undefined {
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || (bytes[0] === 0xfe && bytes[1] === 0xff)) {
    return "is UTF-16 text (it starts with a UTF-16 byte order mark, as files Windows PowerShell or Notepad save as \"Unicode\" do): save the file as UTF-8 and create the Secret again";
  }
  if (!isUtf8(bytes)) {
    return "is not UTF-8 text (binary bytes, e.g. a file from /dev/urandom, or another encoding): use text, e.g. openssl rand -base64 24";
  }
  if (bytes.includes(0)) return "contains a NUL byte, which no environment variable can carry: use text without it";
  return undefined;
}

/**
 * The whole read of a storage Secret: decode V1Secret.data, hand every sensitive value to
 * `register` (log redaction) before anything can print it, and classify. What the Repository
 * check, the wipe and the per-Job credentials all use, so they agree on every byte.
 */
export function readStorageSecret(
  data: Record<string, string> | undefined,
  options: { secretName: string; policy?: AzureAdminPolicy; register?: (value: string) => void },
): StorageSecret {
  const { values, notText } = decodeWithProblems(data);
  for (const v of sensitiveValues(values)) options.register?.(v);
  return parseStorageSecret(values, { ...options, notText });
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
  options: { secretName: string; policy?: AzureAdminPolicy; notText?: Record<string, string> },
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

  // Bytes restic could not be handed exactly: refused before any backup, or the repository it
  // initialized would open with other bytes than the Secret's (DESIGN notes, "Password bytes").
  const passwordProblem = options.notText?.[SECRET_KEYS.resticPassword] ?? (resticPassword!.includes("\0") ? notTextProblem(Buffer.from([0])) : undefined);
  if (passwordProblem) {
    return fail(
      "PasswordNotText",
      `${s}: ${SECRET_KEYS.resticPassword} ${passwordProblem}. restic would be given other bytes than the Secret holds, so nothing was backed up with it; ` +
        `if a repository already uses these bytes as its password, add a text password to it first (restic key add)`,
    );
  }
  const used = [SECRET_KEYS.accountName, SECRET_KEYS.accountKey, SECRET_KEYS.accountSas, SECRET_KEYS.tenantId, SECRET_KEYS.clientId, SECRET_KEYS.clientSecret, SECRET_KEYS.endpointSuffix];
  for (const key of used) {
    const problem = options.notText?.[key];
    if (problem) return fail("SecretValueMalformed", `${s}: ${key} ${problem}.`);
  }
  // Values machines generate never hold whitespace: a space or tab around them is a copy-paste slip.
  for (const [key, value] of [
    [SECRET_KEYS.accountName, accountName],
    [SECRET_KEYS.accountKey, accountKey],
    [SECRET_KEYS.accountSas, sas],
    [SECRET_KEYS.tenantId, tenantId],
    [SECRET_KEYS.clientId, clientId],
    [SECRET_KEYS.endpointSuffix, suffixValue],
  ] as const) {
    if (value !== undefined && /\s/.test(value)) {
      const where = value.trim() === value ? "inside it" : "around it";
      return fail("SecretValueMalformed", `${s}: ${key} has whitespace (a space, tab or line break) ${where}: remove it, e.g. printf %s '<value>' > ${key} before kubectl create secret.`);
    }
  }

  const nameProblem = accountNameProblem(accountName!);
  if (nameProblem) return fail("SecretValueMalformed", `${s}: ${SECRET_KEYS.accountName} ${nameProblem}.`);

  const endpointSuffix = suffixValue || options.policy?.defaultEndpointSuffix || DEFAULT_ENDPOINT_SUFFIX;
  const suffixProblem = endpointSuffixProblem(endpointSuffix);
  if (suffixProblem) {
    const where = suffixValue ? `${s}: ${SECRET_KEYS.endpointSuffix}` : "the operator's default endpoint suffix";
    return fail("SecretValueMalformed", `${where} ${suffixProblem}.`);
  }
  // Before any client exists: a tenant's suffix is where the operator would connect, with its
  // bearer token in identity modes.
  const unapproved = options.policy ? endpointRefusal(options.policy, endpointSuffix) : undefined;
  if (unapproved) return fail("EndpointNotAllowed", `${s}: ${SECRET_KEYS.endpointSuffix} ${unapproved}.`);
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

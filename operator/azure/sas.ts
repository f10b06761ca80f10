// A SAS token as users paste it into AZURE_ACCOUNT_SAS: parsed for the fields the operator reasons
// about (expiry, start, permissions, scope). Nothing here ever puts the signature into a message.

export type SasKind = "service" | "account" | "userDelegation";

export interface ParsedSas {
  /** The query string without a leading "?", as restic's AZURE_ACCOUNT_SAS expects it. */
  token: string;
  kind: SasKind;
  expiresOn: Date;
  startsOn?: Date;
  /** `sp`, e.g. "rl" or "racwdl". */
  permissions: string;
  /** `sr` for service SAS (c = container, b = blob); `srt` for account SAS. */
  resource?: string;
  version?: string;
}

export type SasParseResult = { ok: true; sas: ParsedSas } | { ok: false; problem: string };

/**
 * Far above any SAS Azure issues (a few hundred characters), and below what reaches Azure at all:
 * servers refuse longer request lines (HTTP 414/431) before they look at the signature.
 */
export const MAX_SAS_LENGTH = 4096;

/** Parses a SAS query string. `problem` says what is wrong without quoting the value. */
export function parseSas(value: string): SasParseResult {
  let text = value.trim();
  if (text.length > MAX_SAS_LENGTH) {
    return { ok: false, problem: `is ${text.length} characters long, and a SAS token is a few hundred (Azure refuses requests this long with HTTP 414 or 431): put exactly one token into it` };
  }
  // Whitespace or control characters inside would reach restic's URL as they are.
  if (/[\s\u0000-\u001f\u007f]/.test(text)) return { ok: false, problem: "contains whitespace or control characters inside it; paste the token as one line" };
  if (/^[a-z]+:\/\//i.test(text)) {
    return { ok: false, problem: "is a URL; it must hold only the SAS query string (sv=...&se=...&sig=...)" };
  }
  if (text.startsWith("?")) text = text.slice(1);
  if (text === "") return { ok: false, problem: "is empty" };
  const q = new URLSearchParams(text);
  const missing = ["sig", "se", "sp"].filter((k) => !q.get(k));
  if (missing.length) return { ok: false, problem: `lacks ${missing.map((k) => `"${k}"`).join(", ")}, so it is not a complete SAS token` };
  const repeated = ["sig", "se", "st", "sp", "sv", "sr", "srt", "ss", "skoid"].filter((k) => q.getAll(k).length > 1);
  if (repeated.length) return { ok: false, problem: `has ${repeated.map((k) => `"${k}"`).join(", ")} more than once, so it is not one SAS token` };
  const expiresOn = parseSasTime(q.get("se")!);
  if (!expiresOn) return { ok: false, problem: `has an expiry (se) that is not a date` };
  const st = q.get("st");
  const startsOn = st ? parseSasTime(st) : undefined;
  if (st && !startsOn) return { ok: false, problem: `has a start time (st) that is not a date` };
  const kind: SasKind = q.get("skoid") ? "userDelegation" : q.get("ss") || q.get("srt") ? "account" : "service";
  if (kind === "account" && q.get("ss") && !q.get("ss")!.includes("b")) {
    return { ok: false, problem: `is an account SAS without the blob service (ss has no "b")` };
  }
  const resource = kind === "account" ? q.get("srt") ?? undefined : q.get("sr") ?? undefined;
  const version = q.get("sv") ?? undefined;
  return {
    ok: true,
    sas: {
      token: text,
      kind,
      expiresOn,
      ...(startsOn ? { startsOn } : {}),
      permissions: q.get("sp")!,
      ...(resource ? { resource } : {}),
      ...(version ? { version } : {}),
    },
  };
}

/** SAS times are ISO 8601 UTC, either a full timestamp or a bare date. */
function parseSasTime(text: string): Date | undefined {
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+Z?)?$/.test(text)) return undefined;
  const iso = /^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00Z` : text.endsWith("Z") ? text : `${text}Z`;
  const ms = Date.parse(iso.replace(" ", "T"));
  return Number.isNaN(ms) ? undefined : new Date(ms);
}

export type SasValidity =
  | { state: "valid" }
  | { state: "expiringSoon"; expiresOn: Date }
  | { state: "expired"; expiresOn: Date }
  | { state: "notYetValid"; startsOn: Date };

/** Where `now` sits relative to the SAS window; `warnBeforeMs` ahead of expiry counts as expiring soon. */
export function sasValidity(sas: Pick<ParsedSas, "expiresOn" | "startsOn">, now: Date, warnBeforeMs: number): SasValidity {
  const t = now.getTime();
  if (sas.startsOn && sas.startsOn.getTime() > t) return { state: "notYetValid", startsOn: sas.startsOn };
  if (sas.expiresOn.getTime() <= t) return { state: "expired", expiresOn: sas.expiresOn };
  if (sas.expiresOn.getTime() - t <= warnBeforeMs) return { state: "expiringSoon", expiresOn: sas.expiresOn };
  return { state: "valid" };
}

/** Milliseconds until the SAS changes state (starts, enters the warning window, or expires), if it will. */
export function msUntilSasStateChange(sas: Pick<ParsedSas, "expiresOn" | "startsOn">, now: Date, warnBeforeMs: number): number | undefined {
  const t = now.getTime();
  const points = [sas.startsOn?.getTime(), sas.expiresOn.getTime() - warnBeforeMs, sas.expiresOn.getTime()];
  const future = points.filter((p): p is number => p !== undefined && p > t).map((p) => p - t);
  return future.length ? Math.min(...future) : undefined;
}

/** Permissions restic needs for backups: read, add, create, write, delete (its lock files), list. */
export const BACKUP_PERMISSIONS = "racwdl";
/** Restores run with --no-lock and need only read and list. */
export const RESTORE_PERMISSIONS = "rl";

/** Letters of `required` that `granted` lacks, in `required`'s order. */
export function missingPermissions(granted: string, required: string): string {
  return [...required].filter((p) => !granted.includes(p)).join("");
}

// Checks RESTIC_PASSWORD against a repository's key files in Azure the way restic opens a
// repository (internal/repository/key.go searchKey, v0.19): key files in name order, at most 20;
// a key the password does not open is skipped; any other trouble with a key file stops restic
// right there (a file whose content is not what its name says, unparsable JSON, parameters scrypt
// refuses); the first key that opens must then open the repository's config, or restic stops with
// "config or key is damaged". So a Repository is Ready only if restic itself would open it.
//
// scrypt with restic's parameters costs up to a second of CPU and tens of MiB, so verdicts are
// remembered, per Repository (nothing one namespace's repository taught the operator is used for
// another's) and by content: a key file's name is the SHA-256 of its content once that has been
// verified, and the verification is redone whenever the listing shows another ETag. The config is
// judged again when its ETag changes. Passwords are remembered only as an HMAC under a per-process
// random key. In a settled repository a check costs the key listing and nothing else.

import { createHash, createHmac, randomBytes } from "node:crypto";
import type { AzureClient } from "../../azure/clients.ts";
import { classifyAzureError } from "../../azure/errors.ts";
import {
  type ConfigBlob,
  downloadConfig,
  downloadKeyFile,
  type KeyFileEntry,
  listKeyFiles,
  MAX_KEY_FILE_BYTES,
  type ProbeTarget,
  RESTIC_MAX_KEYS,
} from "../../azure/probe.ts";
import { DerivationSlots, TimeLimitReached } from "../../restic/derivation-slots.ts";
import { type MasterKey, masterKeyOpensConfig, openMasterKey } from "../../restic/master-key.ts";
import { parseKeyFile, type ResticKeyFile } from "../../restic/password.ts";
import type { PasswordObservation } from "./decide.ts";

/** What is known about one key file's content, valid while its ETag stays the same. */
type FileVerdict = { etag: string | undefined; key: ResticKeyFile } | { etag: string | undefined; problem: string };

interface RepositoryMemo {
  files: Map<string, FileVerdict>;
  /** `<password id>|<key id>` -> whether the password opens that key (the key id is its content hash). */
  opens: Map<string, boolean>;
  /** `<password id>|<key id>|<config ETag>` -> whether that key's master key opens the config. */
  config: Map<string, boolean>;
}

export class PasswordChecker {
  private readonly hmacKey = randomBytes(32);
  private readonly memos = new Map<string, RepositoryMemo>();
  private readonly slots: DerivationSlots;
  private readonly timeLimitMs: number;

  /**
   * `maxConcurrent` scrypt runs at once: they share libuv's small thread pool with DNS and file I/O.
   * A check (waiting for a slot included) gives up after `timeLimitMs`, so a tenant whose key files
   * are slow to derive holds a Repository worker that long at most.
   */
  constructor(options: { maxConcurrent?: number; timeLimitMs?: number } = {}) {
    this.slots = new DerivationSlots(options.maxConcurrent ?? 2);
    this.timeLimitMs = options.timeLimitMs ?? 20_000;
  }

  /** Key derivations actually run, for tests and metrics. */
  get derivations(): number {
    return this.slots.started;
  }

  /**
   * `scope` names the Repository (namespace/name): verdicts never cross it. `config` is the config
   * blob the probe saw (size and ETag).
   */
  async check(scope: string, client: AzureClient, target: ProbeTarget, password: string, config: ConfigBlob | undefined): Promise<PasswordObservation> {
    const deadline = performance.now() + this.timeLimitMs;
    let keys: KeyFileEntry[];
    try {
      keys = await listKeyFiles(client, target);
    } catch (err) {
      return { result: "error", failure: classifyAzureError(err, { authenticated: true }) };
    }
    const pw = createHmac("sha256", this.hmacKey).update(password, "utf8").digest("base64");
    const memo = this.memoFor(scope, keys, pw);

    let tried = 0;
    for (const [i, entry] of keys.entries()) {
      if (i >= RESTIC_MAX_KEYS) return { result: "tooManyKeys", keysTried: tried };
      let file = memo.files.get(entry.name);
      if (!file || file.etag === undefined || file.etag !== entry.etag) {
        let content: Buffer | undefined;
        try {
          content = entry.size > 0 && entry.size <= MAX_KEY_FILE_BYTES ? await downloadKeyFile(client, target, entry) : undefined;
        } catch (err) {
          return { result: "error", failure: classifyAzureError(err, { authenticated: true }) };
        }
        file = { etag: entry.etag, ...judgeKeyFile(entry, content) };
        memo.files.set(entry.name, file);
      }
      if ("problem" in file) return { result: "keyUnusable", keyName: entry.name, problem: file.problem };

      const id = `${pw}|${entry.name}`;
      let opens = memo.opens.get(id);
      let master: MasterKey | undefined;
      if (opens === undefined || (opens && !this.configKnown(memo, id, config))) {
        try {
          master = await this.slots.run(() => openMasterKey(password, file.key), deadline);
        } catch (err) {
          if (err instanceof TimeLimitReached) return { result: "timedOut", afterSeconds: this.timeLimitMs / 1000, keysTried: tried };
          const problem = `${err instanceof Error ? err.message : String(err)} (N=${file.key.N}, r=${file.key.r}, p=${file.key.p})`;
          memo.files.set(entry.name, { etag: entry.etag, problem });
          return { result: "keyUnusable", keyName: entry.name, problem };
        }
        opens = master !== undefined;
        memo.opens.set(id, opens);
      }
      tried++;
      if (!opens) continue;
      if (!config) return { result: "match", keyName: entry.name }; // the probe saw no config: nothing to open yet
      const configId = `${id}|${config.etag ?? ""}`;
      let configOk = config.etag ? memo.config.get(configId) : undefined;
      if (configOk === undefined) {
        try {
          configOk = masterKeyOpensConfig(master!, await downloadConfig(client, target, config));
        } catch (err) {
          if (err instanceof RangeError) return { result: "configDamaged", keyName: entry.name, detail: `the config blob is ${config.size} bytes, which is not a config restic wrote` };
          return { result: "error", failure: classifyAzureError(err, { authenticated: true }) };
        }
        memo.config.set(configId, configOk);
      }
      return configOk ? { result: "match", keyName: entry.name } : { result: "configDamaged", keyName: entry.name, detail: "its master key does not open the repository's config" };
    }
    return tried ? { result: "mismatch", keysTried: tried } : { result: "noKeys" };
  }

  /** Drops what is remembered about a Repository (it was deleted). */
  forget(scope: string): void {
    this.memos.delete(scope);
  }

  /** The Repository's memo, trimmed to the key files listed now and the current password. */
  private memoFor(scope: string, keys: readonly KeyFileEntry[], pw: string): RepositoryMemo {
    let memo = this.memos.get(scope);
    if (!memo) this.memos.set(scope, (memo = { files: new Map(), opens: new Map(), config: new Map() }));
    const listed = new Set(keys.map((k) => k.name));
    const current = (id: string) => id.startsWith(`${pw}|`) && listed.has(id.split("|")[1]!);
    for (const name of memo.files.keys()) if (!listed.has(name)) memo.files.delete(name);
    for (const id of memo.opens.keys()) if (!current(id)) memo.opens.delete(id);
    for (const id of memo.config.keys()) if (!current(id)) memo.config.delete(id);
    return memo;
  }

  private configKnown(memo: RepositoryMemo, id: string, config: ConfigBlob | undefined): boolean {
    return !config || (config.etag !== undefined && memo.config.has(`${id}|${config.etag}`));
  }
}

/**
 * What restic makes of a key file before any password is tried: it reads `keys/<id>` (an id with
 * capitals is read as its lowercase spelling, which is another blob), checks that the content
 * hashes to the id, and parses it. Pure.
 */
export function judgeKeyFile(entry: Pick<KeyFileEntry, "name" | "size">, content: Buffer | undefined): { key: ResticKeyFile } | { problem: string } {
  if (entry.name !== entry.name.toLowerCase()) return { problem: "its name has capital letters; restic reads keys/<the name in lowercase> instead, and stops when that is missing" };
  if (!content) return { problem: `it is ${entry.size} bytes, which no key file restic writes is (a few hundred)` };
  if (createHash("sha256").update(content).digest("hex") !== entry.name) {
    return { problem: "its content does not hash to its name (restic names key files by the SHA-256 of their content): it was changed, or copied in under another key's name" };
  }
  try {
    return { key: parseKeyFile(content) };
  } catch (err) {
    return { problem: err instanceof Error ? err.message : String(err) };
  }
}

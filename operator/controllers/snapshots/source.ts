// What snapshots a Repository's restic repository holds, read by the operator itself from Azure:
// one listing of `snapshots/` per look, plus one small download per snapshot it has not seen (a
// snapshot file never changes: its name is the hash of its content). The master key is derived
// once per Repository and password (scrypt, in the same bounded slots as the password check) and
// kept in memory; nothing is written to Azure. Cheaper and more bounded than a restic Job per look
// (a pod, an image, a key derivation and a lock-free `restic snapshots` every time).

import { createHmac, randomBytes } from "node:crypto";
import type { AzureClient } from "../../azure/clients.ts";
import { classifyAzureError } from "../../azure/errors.ts";
import { downloadKeyFile, listKeyFiles, MAX_KEY_FILE_BYTES, RESTIC_MAX_KEYS, type ProbeTarget } from "../../azure/probe.ts";
import { downloadSnapshotFile, listSnapshotFiles, MAX_SNAPSHOT_FILES, type SnapshotFileEntry } from "../../azure/snapshot-files.ts";
import { DerivationSlots, TimeLimitReached } from "../../restic/derivation-slots.ts";
import { openMasterKey, type MasterKey } from "../../restic/master-key.ts";
import { readSnapshotFile, type SnapshotInfo } from "../../restic/snapshot-file.ts";
import { judgeKeyFile } from "../repository/password-check.ts";
import { planReads } from "./budget.ts";

/** Snapshot files read at once per Repository (each a few hundred bytes). */
const DOWNLOADS_IN_FLIGHT = 8;

export type SnapshotListing =
  | {
      ok: true;
      /** The snapshots read, of the newest `limit` files. */
      snapshots: SnapshotInfo[];
      /** Files skipped, with why (not restic's, or unreadable with this key). */
      skipped: string[];
      /** Snapshot files the repository holds (the listing, before any limit). */
      files: number;
      /** Files within the limit not read yet (the per-look read budget): `snapshots` is not the whole picture. */
      pending: number;
    }
  | { ok: false; reason: string; message: string; transient: boolean };

interface Memo {
  /** HMAC of the password + key file name the master key came from. */
  keyId?: string;
  master?: MasterKey;
  /** id -> what the file holds (or why it was skipped). Only ids still listed are kept. */
  files: Map<string, SnapshotInfo | string>;
}

export class SnapshotSource {
  private readonly hmacKey = randomBytes(32);
  private readonly memos = new Map<string, Memo>();
  private readonly slots: DerivationSlots;
  private readonly timeLimitMs: number;

  constructor(options: { slots?: DerivationSlots; timeLimitMs?: number } = {}) {
    this.slots = options.slots ?? new DerivationSlots(1);
    this.timeLimitMs = options.timeLimitMs ?? 20_000;
  }

  /**
   * `scope`: namespace/name of the Repository; nothing learned for one is used for another.
   * `limits.files(total)`: how many of the newest files to keep, given how many the repository
   * holds (the Repository's share of its namespace's budget); `limits.maxReads`: downloads this look.
   */
  async list(scope: string, client: AzureClient, target: ProbeTarget, password: string, limits: { files?: (total: number) => number; maxReads?: number } = {}): Promise<SnapshotListing> {
    let memo = this.memos.get(scope);
    if (!memo) this.memos.set(scope, (memo = { files: new Map() }));
    let entries;
    try {
      entries = await listSnapshotFiles(client, target);
    } catch (err) {
      const f = classifyAzureError(err, { authenticated: true });
      return { ok: false, reason: f.reason, message: `cannot list the repository's snapshots: ${f.detail}`, transient: f.transient };
    }
    if (entries.length > MAX_SNAPSHOT_FILES) {
      return { ok: false, reason: "TooManySnapshots", message: `the repository holds more than ${MAX_SNAPSHOT_FILES} snapshots; blobstash lists at most that many (forget old ones with a retention policy)`, transient: false };
    }
    const plan = planReads(entries, (id) => memo.files.has(id), limits.files?.(entries.length) ?? entries.length, limits.maxReads ?? Infinity);
    // What the operator keeps is bounded by the limit, not by what the tenant's bucket holds.
    const kept = new Set(plan.keep.map((e) => e.id));
    for (const id of memo.files.keys()) if (!kept.has(id)) memo.files.delete(id);
    if (plan.read.length > 0) {
      const master = await this.masterKey(scope, memo, client, target, password);
      if ("reason" in master) return master;
      // A few downloads in flight: a new Repository's first look reads every snapshot file.
      for (let i = 0; i < plan.read.length; i += DOWNLOADS_IN_FLIGHT) {
        const batch = plan.read.slice(i, i + DOWNLOADS_IN_FLIGHT);
        const failures = await Promise.all(batch.map((e) => this.readOne(memo, client, target, e, master.key)));
        const failed = failures.find((f) => f !== undefined);
        if (failed) return failed;
      }
    }
    const snapshots: SnapshotInfo[] = [];
    const skipped: string[] = [];
    for (const e of plan.keep) {
      const v = memo.files.get(e.id);
      if (typeof v === "string") skipped.push(v);
      else if (v) snapshots.push(v);
    }
    return { ok: true, snapshots, skipped, files: entries.length, pending: plan.deferred };
  }

  /** Reads one snapshot file into the memo; a failure that stops this look is returned. */
  private async readOne(memo: Memo, client: AzureClient, target: ProbeTarget, e: SnapshotFileEntry, key: MasterKey): Promise<Extract<SnapshotListing, { ok: false }> | undefined> {
    let content: Buffer;
    try {
      content = await downloadSnapshotFile(client, target, e);
    } catch (err) {
      if (err instanceof RangeError) {
        memo.files.set(e.id, `snapshots/${e.id}: ${err.message}`);
        return undefined;
      }
      // Deleted between the listing and the read (a concurrent forget): it is gone, as the next look will say.
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      const f = classifyAzureError(err, { authenticated: true });
      return { ok: false, reason: f.reason, message: `cannot read snapshots/${e.id}: ${f.detail}`, transient: f.transient };
    }
    const read = readSnapshotFile(e.id, content, key);
    memo.files.set(e.id, read.ok ? read.snapshot : `snapshots/${e.id}: ${read.problem}`);
    return undefined;
  }

  forget(scope: string): void {
    this.memos.delete(scope);
  }

  /** Repositories with something remembered, for tests and the benchmark. */
  get size(): number {
    return this.memos.size;
  }

  /** The master key as restic finds it: the first key file (in listing order) the password opens. */
  private async masterKey(scope: string, memo: Memo, client: AzureClient, target: ProbeTarget, password: string): Promise<{ key: MasterKey } | Extract<SnapshotListing, { ok: false }>> {
    const pw = createHmac("sha256", this.hmacKey).update(`${scope}\n${password}`, "utf8").digest("base64");
    let keys;
    try {
      keys = await listKeyFiles(client, target);
    } catch (err) {
      const f = classifyAzureError(err, { authenticated: true });
      return { ok: false, reason: f.reason, message: `cannot list the repository's keys: ${f.detail}`, transient: f.transient };
    }
    if (memo.master && memo.keyId && keys.some((k) => memo.keyId === `${pw}|${k.name}`)) return { key: memo.master };
    const deadline = performance.now() + this.timeLimitMs;
    for (const entry of keys.slice(0, RESTIC_MAX_KEYS)) {
      let content: Buffer | undefined;
      try {
        content = entry.size > 0 && entry.size <= MAX_KEY_FILE_BYTES ? await downloadKeyFile(client, target, entry) : undefined;
      } catch (err) {
        const f = classifyAzureError(err, { authenticated: true });
        return { ok: false, reason: f.reason, message: `cannot read keys/${entry.name}: ${f.detail}`, transient: f.transient };
      }
      const judged = judgeKeyFile(entry, content);
      if ("problem" in judged) continue;
      let master: MasterKey | undefined;
      try {
        master = await this.slots.run(() => openMasterKey(password, judged.key), deadline);
      } catch (err) {
        if (err instanceof TimeLimitReached) return { ok: false, reason: "KeyDerivationTimedOut", message: "deriving the repository key took too long; will retry", transient: true };
        continue;
      }
      if (!master) continue;
      memo.master = master;
      memo.keyId = `${pw}|${entry.name}`;
      return { key: master };
    }
    return { ok: false, reason: "WrongPassword", message: "RESTIC_PASSWORD opens none of the repository's keys, so its snapshots cannot be read", transient: false };
  }
}

// Checks RESTIC_PASSWORD against the repository's key files in Azure, remembering answers.
// scrypt with restic's parameters costs up to a second of CPU and tens of MiB per try; a thousand
// Repositories revalidated every minute cannot pay that each time. Key files are content-addressed
// (their name is the hash of their content), so (password, key name) -> answer never goes stale.
// Passwords are remembered only as an HMAC under a per-process random key.

import { createHmac, randomBytes } from "node:crypto";
import type { AzureClient } from "../../azure/clients.ts";
import { classifyAzureError } from "../../azure/errors.ts";
import { downloadKeyFile, listKeyFiles, MAX_KEY_FILE_BYTES, type ProbeTarget } from "../../azure/probe.ts";
import { KeyFileError, parseKeyFile, passwordOpensKey } from "../../restic/password.ts";
import { DerivationSlots, TimeLimitReached } from "../../restic/derivation-slots.ts";
import type { PasswordObservation } from "./decide.ts";

export class PasswordChecker {
  private readonly hmacKey = randomBytes(32);
  private readonly answers = new Map<string, boolean>();
  private readonly maxEntries: number;
  private readonly slots: DerivationSlots;
  private readonly timeLimitMs: number;

  /**
   * `maxConcurrent` scrypt runs at once: they share libuv's small thread pool with DNS and file I/O.
   * A check (waiting for a slot included) gives up after `timeLimitMs`, so a tenant whose key files
   * are slow to derive holds a Repository worker that long at most.
   */
  constructor(options: { maxConcurrent?: number; maxEntries?: number; timeLimitMs?: number } = {}) {
    this.slots = new DerivationSlots(options.maxConcurrent ?? 2);
    this.maxEntries = options.maxEntries ?? 10_000;
    this.timeLimitMs = options.timeLimitMs ?? 20_000;
  }

  /** Key derivations actually run, for tests and metrics. */
  get derivations(): number {
    return this.slots.started;
  }

  async check(client: AzureClient, target: ProbeTarget, password: string): Promise<PasswordObservation> {
    const deadline = performance.now() + this.timeLimitMs;
    let keys: Awaited<ReturnType<typeof listKeyFiles>>;
    try {
      keys = await listKeyFiles(client, target);
    } catch (err) {
      return { result: "error", failure: classifyAzureError(err, { authenticated: true }) };
    }
    const id = createHmac("sha256", this.hmacKey).update(password, "utf8").digest("base64");
    const known = (name: string) => this.answers.get(`${id}:${name}`);
    const hit = keys.find((k) => known(k.name) === true);
    if (hit) return { result: "match", keyName: hit.name };

    let tried = 0;
    for (const k of keys) {
      if (known(k.name) === false) {
        tried++;
        continue;
      }
      if (k.size <= 0 || k.size > MAX_KEY_FILE_BYTES) continue; // not a key file restic could have written
      let content: Buffer;
      try {
        content = await downloadKeyFile(client, target, k);
      } catch (err) {
        return { result: "error", failure: classifyAzureError(err, { authenticated: true }) };
      }
      let opens: boolean;
      try {
        const key = parseKeyFile(content);
        tried++;
        opens = await this.slots.run(() => passwordOpensKey(password, key), deadline);
      } catch (err) {
        if (err instanceof KeyFileError) continue; // restic skips keys it cannot use, so do we
        if (err instanceof TimeLimitReached) return { result: "timedOut", afterSeconds: this.timeLimitMs / 1000, keysTried: tried - 1 };
        throw err;
      }
      this.remember(`${id}:${k.name}`, opens);
      if (opens) return { result: "match", keyName: k.name };
    }
    return tried ? { result: "mismatch", keysTried: tried } : { result: "noKeys" };
  }

  private remember(key: string, value: boolean): void {
    this.answers.set(key, value);
    if (this.answers.size > this.maxEntries) {
      const oldest = this.answers.keys().next().value;
      if (oldest !== undefined) this.answers.delete(oldest);
    }
  }
}

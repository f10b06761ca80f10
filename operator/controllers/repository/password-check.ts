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
import type { PasswordObservation } from "./decide.ts";

export class PasswordChecker {
  private readonly hmacKey = randomBytes(32);
  private readonly answers = new Map<string, boolean>();
  private readonly maxEntries: number;
  private readonly maxConcurrent: number;
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  /** Key derivations actually run, for tests and metrics. */
  derivations = 0;

  /** `maxConcurrent` scrypt runs at once: they share libuv's small thread pool with DNS and file I/O. */
  constructor(options: { maxConcurrent?: number; maxEntries?: number } = {}) {
    this.maxConcurrent = options.maxConcurrent ?? 2;
    this.maxEntries = options.maxEntries ?? 10_000;
  }

  async check(client: AzureClient, target: ProbeTarget, password: string): Promise<PasswordObservation> {
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
        opens = await this.limited(() => passwordOpensKey(password, key));
      } catch (err) {
        if (err instanceof KeyFileError) continue; // restic skips keys it cannot use, so do we
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

  private async limited<T>(run: () => Promise<T>): Promise<T> {
    while (this.running >= this.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    this.derivations++;
    try {
      return await run();
    } finally {
      this.running--;
      this.waiting.shift()?.();
    }
  }
}

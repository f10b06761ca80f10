// Opening a restic key file down to its master key, and checking that master key against the
// repository's config blob: restic (internal/repository/key.go, repository.go SearchKey) takes the
// first key file the password opens and then must decrypt `config` with its master key, or stops
// with "config or key ... is damaged". A key file copied from another repository opens with the
// same password and still cannot open this one; only the config tells them apart.
// Key-file parsing and its bounds are in password.ts.

import { deriveUserKey, KeyFileError, openSealed, type ResticKeyFile } from "./password.ts";

export interface MasterKey {
  encryption: Buffer;
  macK: Buffer;
  macR: Buffer;
}

const MASTER_SIZES = { encrypt: 32, k: 16, r: 16 } as const;

/**
 * The master key inside `key`, or undefined when the password does not open it (restic's
 * ErrUnauthenticated: it tries the next key). Throws KeyFileError for a key file restic would stop
 * at: authenticated but not holding a usable master key. Errors of node's scrypt (parameters
 * OpenSSL refuses) propagate as they are.
 */
export async function openMasterKey(password: string, key: ResticKeyFile): Promise<MasterKey | undefined> {
  const user = await deriveUserKey(password, key);
  const plain = openSealed(user.encryption, user.macK, user.macR, Buffer.from(key.data, "base64"));
  user.derived.fill(0);
  if (!plain) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(plain.toString("utf8"));
  } catch {
    throw new KeyFileError("it opens with the password but holds no JSON master key");
  } finally {
    plain.fill(0);
  }
  const m = parsed as { mac?: { k?: unknown; r?: unknown }; encrypt?: unknown };
  const part = (v: unknown, size: number): Buffer | undefined => {
    if (typeof v !== "string") return undefined;
    const b = Buffer.from(v, "base64");
    return b.length === size ? b : undefined;
  };
  const encryption = part(m?.encrypt, MASTER_SIZES.encrypt);
  const macK = part(m?.mac?.k, MASTER_SIZES.k);
  const macR = part(m?.mac?.r, MASTER_SIZES.r);
  if (!encryption || !macK || !macR) throw new KeyFileError("it opens with the password but its master key has the wrong shape");
  // restic's Key.Valid(): the encryption key, k and r must each have a non-zero byte.
  if ([encryption, macK, macR].some((b) => b.every((x) => x === 0))) {
    throw new KeyFileError("it opens with the password but its master key is all zeros (restic: invalid key)");
  }
  return { encryption, macK, macR };
}

/** Whether the master key authenticates the repository's `config` blob (IV | ciphertext | MAC). */
export function masterKeyOpensConfig(master: MasterKey, config: Uint8Array): boolean {
  const plain = openSealed(master.encryption, master.macK, master.macR, config);
  plain?.fill(0);
  return plain !== undefined;
}

// Checks a restic password against a repository's key files in-process, without running restic.
// The format (restic internal/repository/key.go and internal/crypto): a key file is JSON
// {created, username, hostname, kdf:"scrypt", N, r, p, salt, data}; scrypt(password, salt, N, r, p)
// gives 64 bytes: an AES-256 key, then the MAC key k (16, AES-128) || r (16, Poly1305).
// `data` is IV(16) | ciphertext | MAC(16), MAC = Poly1305(ciphertext) under the one-time key
// r || AES-128_k(IV); the plaintext, AES-256-CTR(IV), is the JSON master key {mac:{k,r}, encrypt}.

import { createCipheriv, createDecipheriv, scrypt, timingSafeEqual } from "node:crypto";
import { poly1305 } from "./poly1305.ts";

export interface ResticKeyFile {
  created?: string;
  username?: string;
  hostname?: string;
  kdf: "scrypt";
  N: number;
  r: number;
  p: number;
  /** base64 */
  salt: string;
  /** base64: IV | ciphertext | MAC */
  data: string;
}

const IV_SIZE = 16;
const MAC_SIZE = 16;
const SALT_SIZE = 64; // restic refuses other lengths
/** scrypt needs about 128·r·(N+p+2) bytes; above this a key file is refused rather than trusted. */
export const DEFAULT_MAX_SCRYPT_MEMORY = 512 * 1024 * 1024;

export class KeyFileError extends Error {
  override name = "KeyFileError";
}

/** Parses and sanity-checks a key file so a hostile or corrupt one cannot make us allocate without bound. */
export function parseKeyFile(content: string | Uint8Array, maxScryptMemory = DEFAULT_MAX_SCRYPT_MEMORY): ResticKeyFile {
  let raw: unknown;
  try {
    raw = JSON.parse(typeof content === "string" ? content : Buffer.from(content).toString("utf8"));
  } catch {
    throw new KeyFileError("key file is not JSON");
  }
  if (!raw || typeof raw !== "object") throw new KeyFileError("key file is not a JSON object");
  const k = raw as Record<string, unknown>;
  if (k.kdf !== "scrypt") throw new KeyFileError(`unsupported kdf ${JSON.stringify(k.kdf)} (restic only writes scrypt)`);
  for (const field of ["N", "r", "p"] as const) {
    const v = k[field];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new KeyFileError(`key file field ${field} is not a positive integer`);
  }
  const N = k.N as number;
  const r = k.r as number;
  const p = k.p as number;
  if (N < 2 || (N & (N - 1)) !== 0) throw new KeyFileError("key file field N is not a power of two");
  if (scryptMemory(N, r, p) > maxScryptMemory) {
    throw new KeyFileError(`key file asks for ${Math.ceil(scryptMemory(N, r, p) / 2 ** 20)} MiB of scrypt memory, above the limit`);
  }
  if (typeof k.salt !== "string" || Buffer.from(k.salt, "base64").length !== SALT_SIZE) throw new KeyFileError("key file salt is not 64 base64 bytes");
  if (typeof k.data !== "string" || Buffer.from(k.data, "base64").length <= IV_SIZE + MAC_SIZE) throw new KeyFileError("key file data is too short");
  return {
    ...(typeof k.created === "string" ? { created: k.created } : {}),
    ...(typeof k.username === "string" ? { username: k.username } : {}),
    ...(typeof k.hostname === "string" ? { hostname: k.hostname } : {}),
    kdf: "scrypt",
    N,
    r,
    p,
    salt: k.salt,
    data: k.data,
  };
}

function scryptMemory(N: number, r: number, p: number): number {
  return 128 * r * (N + p + 2);
}

interface UserKey {
  encryption: Buffer; // AES-256
  macK: Buffer; // AES-128 key that encrypts the nonce
  macR: Buffer; // Poly1305 r
}

async function deriveUserKey(password: string, key: ResticKeyFile): Promise<UserKey> {
  const derived = await new Promise<Buffer>((resolve, reject) => {
    scrypt(
      Buffer.from(password, "utf8"),
      Buffer.from(key.salt, "base64"),
      64,
      // node's default maxmem (32 MiB) is below what restic's usual N=2^15, r=8 needs.
      { N: key.N, r: key.r, p: key.p, maxmem: scryptMemory(key.N, key.r, key.p) + 2 ** 20 },
      (err, out) => (err ? reject(err) : resolve(out)),
    );
  });
  return { encryption: derived.subarray(0, 32), macK: derived.subarray(32, 48), macR: derived.subarray(48, 64) };
}

/** restic's MAC: Poly1305 over the ciphertext, keyed with r || AES-128_k(nonce). */
export function resticMac(macK: Uint8Array, macR: Uint8Array, nonce: Uint8Array, ciphertext: Uint8Array): Buffer {
  const aes = createCipheriv("aes-128-ecb", macK, null);
  aes.setAutoPadding(false);
  const s = Buffer.concat([aes.update(nonce), aes.final()]);
  return poly1305(Buffer.concat([macR, s]), ciphertext);
}

/** Verifies the MAC, then decrypts. Returns undefined when the MAC does not match (wrong key). */
export function openSealed(encryption: Uint8Array, macK: Uint8Array, macR: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < IV_SIZE + MAC_SIZE) return undefined;
  const iv = sealed.subarray(0, IV_SIZE);
  const ciphertext = sealed.subarray(IV_SIZE, sealed.length - MAC_SIZE);
  const mac = sealed.subarray(sealed.length - MAC_SIZE);
  if (!timingSafeEqual(resticMac(macK, macR, iv, ciphertext), mac)) return undefined;
  const aes = createDecipheriv("aes-256-ctr", encryption, iv);
  return Buffer.concat([aes.update(ciphertext), aes.final()]);
}

/**
 * True when `password` opens this key file: the MAC verifies and the plaintext is a restic master
 * key. False for a wrong password. Throws KeyFileError when the file itself is unusable.
 */
export async function passwordOpensKey(password: string, key: ResticKeyFile): Promise<boolean> {
  const user = await deriveUserKey(password, key);
  const plain = openSealed(user.encryption, user.macK, user.macR, Buffer.from(key.data, "base64"));
  if (!plain) return false;
  let master: unknown;
  try {
    master = JSON.parse(plain.toString("utf8"));
  } catch {
    throw new KeyFileError("key file authenticated but does not hold a JSON master key");
  } finally {
    plain.fill(0);
  }
  const m = master as { mac?: { k?: unknown; r?: unknown }; encrypt?: unknown };
  if (typeof m?.encrypt !== "string" || typeof m.mac?.k !== "string" || typeof m.mac?.r !== "string") {
    throw new KeyFileError("key file authenticated but its master key has an unexpected shape");
  }
  return true;
}

export type PasswordCheck =
  | { result: "match"; keyName: string }
  | { result: "mismatch"; keysTried: number }
  | { result: "noKeys" };

/**
 * Tries the password against each key file in turn, as `restic` does. Unusable key files are
 * skipped (reported via `onBadKey`) the way restic skips keys it cannot parse.
 */
export async function checkPassword(
  password: string,
  keyFiles: Iterable<{ name: string; content: string | Uint8Array }> | AsyncIterable<{ name: string; content: string | Uint8Array }>,
  options: { maxScryptMemory?: number; onBadKey?: (name: string, err: Error) => void } = {},
): Promise<PasswordCheck> {
  let tried = 0;
  for await (const file of keyFiles) {
    let key: ResticKeyFile;
    try {
      key = parseKeyFile(file.content, options.maxScryptMemory);
    } catch (err) {
      options.onBadKey?.(file.name, err as Error);
      continue;
    }
    tried++;
    try {
      if (await passwordOpensKey(password, key)) return { result: "match", keyName: file.name };
    } catch (err) {
      options.onBadKey?.(file.name, err as Error);
    }
  }
  return tried === 0 ? { result: "noKeys" } : { result: "mismatch", keysTried: tried };
}

// Checks a restic password against a repository's key files in-process, without running restic.
// The format (restic internal/repository/key.go and internal/crypto): a key file is JSON
// {created, username, hostname, kdf:"scrypt", N, r, p, salt, data}; scrypt(password, salt, N, r, p)
// gives 64 bytes: an AES-256 key, then the MAC key k (16, AES-128) || r (16, Poly1305).
// `data` is IV(16) | ciphertext | MAC(16), MAC = Poly1305(ciphertext) under the one-time key
// r || AES-128_k(IV); the plaintext, AES-256-CTR(IV), is the JSON master key {mac:{k,r}, encrypt}.

import { createCipheriv, createDecipheriv, scrypt, timingSafeEqual } from "node:crypto";
import { isRecord } from "../api/json.ts";
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
/** What restic's master key JSON ({mac:{k,r},encrypt}) needs, sealed: a few hundred bytes. */
const MAX_DATA_SIZE = 1024;
/** Key files are a few hundred bytes; anything much larger is not one. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/**
 * The scrypt parameters restic writes (internal/repository/key.go AddKey, via simple-scrypt's
 * Calibrate): r = 8; N the largest power of two whose 128·r·N bytes stay under restic's 60 MiB
 * (KDFMemory), so 2^15 (32 MiB); p as many rounds as fit in 0.5 s (KDFTimeout) on the machine
 * that made the key, 3 on this project's CI machines, a dozen on fast desktops. restic itself
 * would accept far more (128·r·N up to 2 GiB), but no restic ever wrote it: such a key file comes
 * from somewhere else, and deriving it would cost the operator what the file's author chose.
 * So: N and r no higher than restic writes, p and the work N·r·p with room for machines ten times
 * faster than ours (N·r·p = 2^23 is about 5 s of one core here).
 */
export const RESTIC_SCRYPT_LIMITS = { maxN: 2 ** 15, maxR: 8, maxP: 32, maxWork: 2 ** 23 } as const;

export type ScryptLimits = { readonly maxN: number; readonly maxR: number; readonly maxP: number; readonly maxWork: number };

/**
 * A key file the operator will not use. `refused`: well-formed, but its scrypt parameters are beyond
 * the limits (deriving it was not even started). `invalid`: not something restic could have written.
 */
export class KeyFileError extends Error {
  override name = "KeyFileError";
  readonly kind: "refused" | "invalid";

  constructor(message: string, kind: "refused" | "invalid" = "invalid") {
    super(message);
    this.kind = kind;
  }
}

/**
 * Parses and checks a key file before anything is derived from it: a hostile or corrupt one cannot
 * make the operator allocate or compute more than restic's own keys would.
 */
export function parseKeyFile(content: string | Uint8Array, limits: ScryptLimits = RESTIC_SCRYPT_LIMITS): ResticKeyFile {
  if (content.length > MAX_KEY_FILE_BYTES) throw new KeyFileError(`key file is ${content.length} bytes; restic's are a few hundred`);
  let raw: unknown;
  try {
    raw = JSON.parse(typeof content === "string" ? content : Buffer.from(content).toString("utf8"));
  } catch {
    throw new KeyFileError("key file is not JSON");
  }
  if (!isRecord(raw)) throw new KeyFileError("key file is not a JSON object");
  const k = raw;
  if (k.kdf !== "scrypt") throw new KeyFileError(`unsupported kdf ${JSON.stringify(k.kdf)?.slice(0, 40)} (restic only writes scrypt)`);
  for (const field of ["N", "r", "p"] as const) {
    const v = k[field];
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) throw new KeyFileError(`key file field ${field} is not a positive integer`);
  }
  const N = k.N as number;
  const r = k.r as number;
  const p = k.p as number;
  if (N < 2 || (N & (N - 1)) !== 0) throw new KeyFileError(`key file field N (${N}) is not a power of two`);
  const beyond = scryptBeyondLimits(N, r, p, limits);
  if (beyond) throw new KeyFileError(beyond, "refused");
  if (typeof k.salt !== "string" || base64Length(k.salt) !== SALT_SIZE) throw new KeyFileError("key file salt is not 64 base64 bytes");
  if (typeof k.data !== "string") throw new KeyFileError("key file has no data");
  const dataSize = base64Length(k.data);
  if (dataSize <= IV_SIZE + MAC_SIZE || dataSize > MAX_DATA_SIZE) throw new KeyFileError(`key file data is ${dataSize} bytes; a sealed master key is about 200`);
  // restic refuses an all-zero nonce (crypto.validNonce) before it looks at the MAC.
  if (Buffer.from(k.data, "base64").subarray(0, IV_SIZE).every((b) => b === 0)) throw new KeyFileError("key file data starts with an all-zero IV, which restic refuses");
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

/** Why N, r, p are beyond the limits (naming them and the limits), or undefined when they are within. */
export function scryptBeyondLimits(N: number, r: number, p: number, limits: ScryptLimits = RESTIC_SCRYPT_LIMITS): string | undefined {
  const over: string[] = [];
  if (N > limits.maxN) over.push(`N ≤ ${limits.maxN}`);
  if (r > limits.maxR) over.push(`r ≤ ${limits.maxR}`);
  if (p > limits.maxP) over.push(`p ≤ ${limits.maxP}`);
  // Products of safe integers can pass 2^53; compared as BigInt they stay exact.
  if (BigInt(N) * BigInt(r) * BigInt(p) > BigInt(limits.maxWork)) over.push(`N·r·p ≤ ${limits.maxWork}`);
  if (over.length === 0) return undefined;
  const mib = (BigInt(128) * BigInt(r) * BigInt(N)) / BigInt(2 ** 20);
  return (
    `key file asks scrypt for N=${N}, r=${r}, p=${p} (${mib} MiB, ${p} round(s)), beyond what restic writes ` +
    `(${over.join(", ")}): not tried`
  );
}

/** Decoded length of base64 text without decoding it (the text may be megabytes of garbage). */
function base64Length(text: string): number {
  if (text.length > 4 * MAX_KEY_FILE_BYTES) return Infinity;
  return Buffer.byteLength(text, "base64");
}

function scryptMemory(N: number, r: number, p: number): number {
  return 128 * r * (N + p + 2);
}

export interface UserKey {
  /** All 64 bytes, to be zeroed after use. */
  derived: Buffer;
  encryption: Buffer; // AES-256
  macK: Buffer; // AES-128 key that encrypts the nonce
  macR: Buffer; // Poly1305 r
}

/** scrypt of the password with the key file's parameters, refused (KeyFileError "refused") beyond restic's bounds. */
export async function deriveUserKey(password: string, key: ResticKeyFile): Promise<UserKey> {
  // Also here, for key files that did not come through parseKeyFile.
  const beyond = scryptBeyondLimits(key.N, key.r, key.p);
  if (beyond) throw new KeyFileError(beyond, "refused");
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
  return { encryption: derived.subarray(0, 32), macK: derived.subarray(32, 48), macR: derived.subarray(48, 64), derived };
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


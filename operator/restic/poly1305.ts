// Poly1305 one-time authenticator (RFC 8439 section 2.5) over BigInt. node:crypto has Poly1305 only
// inside ChaCha20-Poly1305, and restic uses it with an AES-derived key, so we compute it directly.
// Inputs here are tiny (restic key files are a few hundred bytes), so clarity beats speed.

const P = (1n << 130n) - 5n;
const CLAMP = 0x0ffffffc0ffffffc0ffffffc0fffffffn;
const MASK128 = (1n << 128n) - 1n;

function leToBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

function bigIntToLe16(n: bigint): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** The 16-byte tag of `message` under the 32-byte one-time key r || s. */
export function poly1305(key: Uint8Array, message: Uint8Array): Buffer {
  if (key.length !== 32) throw new Error(`poly1305 key must be 32 bytes, got ${key.length}`);
  const r = leToBigInt(key.subarray(0, 16)) & CLAMP;
  const s = leToBigInt(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < message.length; i += 16) {
    const block = message.subarray(i, Math.min(i + 16, message.length));
    // Each block gets a 1 bit appended just above its last byte.
    const n = leToBigInt(block) + (1n << BigInt(8 * block.length));
    acc = ((acc + n) * r) % P;
  }
  return bigIntToLe16((acc + s) & MASK128);
}

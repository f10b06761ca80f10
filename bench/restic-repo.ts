// restic repositories written file by file, in restic's own format (repository version 2), without
// restic: the snapshot benchmark needs a thousand repositories of a hundred snapshots each, and
// making them with `restic backup` (a process, a key derivation and a lock per snapshot) would take
// hours. What is written is what restic writes for a repository whose snapshots point at trees it
// never stored: a key file (scrypt with a small N, so a thousand derivations stay cheap), the config
// and one sealed snapshot file per snapshot, each named by the SHA-256 of its content.
// restic-repo.test.ts proves restic itself lists such a repository.

import { createCipheriv, createHash, randomBytes, scryptSync } from "node:crypto";
import { resticMac } from "../operator/restic/password.ts";

export interface MasterKeys {
  encryption: Buffer;
  macK: Buffer;
  macR: Buffer;
}

/** A file of the repository: its path under the repository's root and its content. */
export interface RepositoryFile {
  path: string;
  data: Buffer;
}

export function newMasterKeys(): MasterKeys {
  return { encryption: randomBytes(32), macK: randomBytes(16), macR: randomBytes(16) };
}

/** restic's sealing: IV | AES-256-CTR | Poly1305-AES MAC (internal/crypto). */
export function seal(k: MasterKeys, plain: Buffer): Buffer {
  const iv = randomBytes(16);
  const c = createCipheriv("aes-256-ctr", k.encryption, iv);
  const ct = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([iv, ct, resticMac(k.macK, k.macR, iv, ct)]);
}

const contentId = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/**
 * The key file (scrypt N=1024, r=8, p=1, within restic's bounds) that opens `master` with `password`,
 * and the config (never compressed, as restic writes it), both under their restic paths.
 */
export function repositoryFiles(master: MasterKeys, password: string, N = 1024): RepositoryFile[] {
  const salt = randomBytes(64);
  const derived = scryptSync(password, salt, 64, { N, r: 8, p: 1 });
  const user = { encryption: derived.subarray(0, 32), macK: derived.subarray(32, 48), macR: derived.subarray(48, 64) };
  const masterJson = JSON.stringify({ mac: { k: master.macK.toString("base64"), r: master.macR.toString("base64") }, encrypt: master.encryption.toString("base64") });
  const key = Buffer.from(JSON.stringify({ created: new Date().toISOString(), username: "bench", hostname: "bench", kdf: "scrypt", N, r: 8, p: 1, salt: salt.toString("base64"), data: seal(user, Buffer.from(masterJson)).toString("base64") }));
  const config = seal(master, Buffer.from(JSON.stringify({ version: 2, id: randomBytes(32).toString("hex"), chunker_polynomial: "3dea92648f6e83" })));
  return [
    { path: "config", data: config },
    { path: `keys/${contentId(key)}`, data: key },
  ];
}

/** Snapshot `j` of repository `i`: one an hour from 2026-01-01, tagged like a blobstash backup. */
export function snapshotFile(master: MasterKeys, i: number, j: number): RepositoryFile {
  const t = new Date(Date.UTC(2026, 0, 1) + j * 3600_000).toISOString();
  const json = {
    time: t,
    tree: createHash("sha256").update(`${i}/${j}`).digest("hex"),
    paths: ["/blobstash/volume"],
    hostname: "host-0",
    username: "root",
    tags: [`bench/config-${i}`],
    program_version: "restic 0.19.1",
    summary: { backup_start: t, backup_end: t, total_files_processed: 100, total_bytes_processed: 1_048_576 * (j + 1) },
  };
  // Plain JSON is a valid unpacked file in format 2 (restic reads `{` as uncompressed).
  const data = seal(master, Buffer.from(JSON.stringify(json)));
  return { path: `snapshots/${contentId(data)}`, data };
}

import assert from "node:assert/strict";
import { createCipheriv, randomBytes, scryptSync } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { openMasterKey } from "./master-key.ts";
import { KeyFileError, parseKeyFile, RESTIC_SCRYPT_LIMITS, resticMac, scryptBeyondLimits, type ResticKeyFile } from "./password.ts";

/** Whether the password opens the key file down to a valid master key. */
const passwordOpensKey = async (password: string, key: ResticKeyFile) => (await openMasterKey(password, key)) !== undefined;

// A real repository made by the pinned restic (on PATH via e2e/tools/install.sh --print-path).
const RESTIC = process.env.RESTIC_BIN ?? "restic";

async function keyFiles(repo: string) {
  const dir = join(repo, "keys");
  const names = await readdir(dir);
  return Promise.all(names.map(async (name) => ({ name, content: await readFile(join(dir, name)) })));
}

/** Whether any of the key files opens with the password, as restic tries them. */
async function opensAny(password: string, files: Array<{ content: Buffer }>): Promise<boolean> {
  for (const f of files) if (await passwordOpensKey(password, parseKeyFile(f.content))) return true;
  return false;
}

/** A key file sealed the way restic seals one, around any master key JSON (restic's format, our parameters). */
function sealKeyFile(password: string, master: unknown, params = { N: 1024, r: 8, p: 1 }, iv = randomBytes(16)): string {
  const salt = randomBytes(64);
  const user = scryptSync(password, salt, 64, { ...params, maxmem: 64 << 20 });
  const aes = createCipheriv("aes-256-ctr", user.subarray(0, 32), iv);
  const ciphertext = Buffer.concat([aes.update(JSON.stringify(master)), aes.final()]);
  const mac = resticMac(user.subarray(32, 48), user.subarray(48, 64), iv, ciphertext);
  return JSON.stringify({ kdf: "scrypt", ...params, salt: salt.toString("base64"), data: Buffer.concat([iv, ciphertext, mac]).toString("base64") });
}

const b64 = (n: number, fill = 1) => Buffer.alloc(n, fill).toString("base64");
const goodMaster = { mac: { k: b64(16), r: b64(16) }, encrypt: b64(32) };

describe("restic password check (real repository)", function () {
  this.timeout(120_000);
  let repo: string;
  const password = "correct horse battery staple\u00e9";

  before(async () => {
    repo = await mkdtemp(join(tmpdir(), "blobstash-pw-"));
    await execa(RESTIC, ["init", "--repo", repo], { env: { RESTIC_PASSWORD: password } });
  });
  after(async () => {
    await rm(repo, { recursive: true, force: true });
  });

  it("parses the key file restic wrote, whose parameters are within the limits", async () => {
    const [file] = await keyFiles(repo);
    const key = parseKeyFile(file!.content);
    assert.equal(key.kdf, "scrypt");
    assert.ok(key.N >= 2 ** 14, `N=${key.N}`);
    assert.equal(scryptBeyondLimits(key.N, key.r, key.p), undefined, `restic wrote N=${key.N} r=${key.r} p=${key.p}`);
  });

  it("accepts the right password and rejects a wrong one, including one that differs by a trailing newline", async () => {
    const files = await keyFiles(repo);
    assert.equal(await opensAny(password, files), true);
    assert.equal(await opensAny("wrong", files), false);
    assert.equal(await opensAny(`${password}\n`, files), false);
  });

  it("opens the second of two keys", async () => {
    const second = await mkdtemp(join(tmpdir(), "blobstash-pw2-"));
    try {
      await writeFile(join(second, "pw"), "other password\n");
      await execa(RESTIC, ["key", "add", "--repo", repo, "--new-password-file", join(second, "pw")], { env: { RESTIC_PASSWORD: password } });
      const files = await keyFiles(repo);
      assert.equal(files.length, 2);
      assert.equal(await opensAny("other password", files), true);
      assert.equal(await opensAny(password, files), true);
      assert.equal(await opensAny("neither", files), false);
    } finally {
      await rm(second, { recursive: true, force: true });
    }
  });

  it("fails closed when one byte of the MAC or ciphertext is flipped", async () => {
    const [file] = await keyFiles(repo);
    const key = parseKeyFile(file!.content);
    const data = Buffer.from(key.data, "base64");
    for (const at of [20, data.length - 1]) {
      const tampered = Buffer.from(data);
      tampered[at]! ^= 0x01;
      assert.equal(await passwordOpensKey(password, { ...key, data: tampered.toString("base64") }), false, `byte ${at}`);
    }
  });
});

describe("hostile key files", () => {
  it("opens a key sealed like restic's, and refuses one whose master key is all zeros, as restic does", async () => {
    assert.equal(await passwordOpensKey("pw", parseKeyFile(sealKeyFile("pw", goodMaster))), true);
    assert.equal(await passwordOpensKey("other", parseKeyFile(sealKeyFile("pw", goodMaster))), false);
    for (const master of [
      { mac: { k: b64(16, 0), r: b64(16, 0) }, encrypt: b64(32, 0) },
      { ...goodMaster, encrypt: b64(32, 0) },
      { ...goodMaster, mac: { k: b64(16, 0), r: b64(16) } },
      { ...goodMaster, mac: { k: b64(16), r: b64(16, 0) } },
      { ...goodMaster, encrypt: b64(31) },
      { mac: "x", encrypt: b64(32) },
      "a string",
    ]) {
      const key = parseKeyFile(sealKeyFile("pw", master));
      await assert.rejects(passwordOpensKey("pw", key), (err: unknown) => err instanceof KeyFileError && /all zeros|wrong shape/.test(err.message), JSON.stringify(master));
    }
  });

  it("refuses an all-zero IV before deriving anything, as restic does", () => {
    assert.throws(() => parseKeyFile(sealKeyFile("pw", goodMaster, undefined, Buffer.alloc(16))), /all-zero IV/);
  });

  const within = { N: 2 ** 15, r: 8, p: 1 };
  for (const [what, params, named] of [
    ["N twice restic's", { ...within, N: 2 ** 16 }, /N=65536.*N ≤ 32768/],
    ["N of 2^30 (1 TiB)", { ...within, N: 2 ** 30 }, /N=1073741824, r=8, p=1 \(1048576 MiB/],
    ["r of 16", { ...within, r: 16 }, /r=16.*r ≤ 8/],
    ["p of 33", { ...within, p: 33 }, /p=33.*p ≤ 32/],
    ["p of 2^40 with small N", { N: 2, r: 1, p: 2 ** 40 }, /p ≤ 32, N·r·p ≤ 8388608/],
  ] as const) {
    it(`refuses ${what} before any allocation, naming the parameters and the limits`, async () => {
      const text = JSON.stringify({ kdf: "scrypt", ...params, salt: b64(64), data: b64(200) });
      const t0 = performance.now();
      assert.throws(
        () => parseKeyFile(text),
        (err: unknown) => err instanceof KeyFileError && err.kind === "refused" && named.test(err.message),
      );
      // Also when a key that skipped parseKeyFile reaches the derivation.
      const forged: ResticKeyFile = { kdf: "scrypt", ...params, salt: b64(64), data: b64(200) };
      await assert.rejects(passwordOpensKey("pw", forged), (err: unknown) => err instanceof KeyFileError && err.kind === "refused");
      assert.ok(performance.now() - t0 < 200, "nothing was derived");
    });
  }

  it("accepts the largest parameters within the limits", () => {
    const { maxN, maxR, maxWork } = RESTIC_SCRYPT_LIMITS;
    assert.equal(scryptBeyondLimits(maxN, maxR, maxWork / maxN / maxR), undefined);
    assert.match(scryptBeyondLimits(maxN, maxR, maxWork / maxN / maxR + 1) ?? "", /p ≤ 32, N·r·p/);
  });

  const good = { kdf: "scrypt", N: 16384, r: 8, p: 1, salt: b64(64), data: Buffer.alloc(64, 2).toString("base64") };
  for (const [what, text] of [
    ["another kdf", JSON.stringify({ ...good, kdf: "argon2" })],
    ["N not a power of two", JSON.stringify({ ...good, N: 1000 })],
    ["N of 1", JSON.stringify({ ...good, N: 1 })],
    ["a non-integer r", JSON.stringify({ ...good, r: 1.5 })],
    ["N beyond 2^53", JSON.stringify({ ...good, N: 2 ** 60 })],
    ["N as a string", JSON.stringify({ ...good, N: "32768" })],
    ["a negative p", JSON.stringify({ ...good, p: -1 })],
    ["1e308", JSON.stringify({ ...good, N: 1e308 })],
    ["a short salt", JSON.stringify({ ...good, salt: "AAAA" })],
    ["a salt of a megabyte", JSON.stringify({ ...good, salt: "A".repeat(1 << 20) })],
    ["data too short for IV and MAC", JSON.stringify({ ...good, data: b64(32) })],
    ["data of 4 KiB", JSON.stringify({ ...good, data: b64(4096) })],
    ["no data", JSON.stringify({ ...good, data: undefined })],
    ["a file of 100 KiB", JSON.stringify({ ...good, username: "x".repeat(100 << 10) })],
    ["an array", "[1,2,3]"],
    ["null", "null"],
    ["deep nesting", "[".repeat(50_000) + "]".repeat(50_000)],
    ["not JSON", "{"],
    ["bytes that are not UTF-8", Buffer.from([0xff, 0xfe, 0x7b, 0x00])],
  ] as const) {
    it(`refuses ${what} with a reason`, () => {
      assert.throws(
        () => parseKeyFile(text),
        (err: unknown) => err instanceof KeyFileError && err.kind === "invalid" && err.message.length > 10 && err.message.length < 300,
      );
    });
  }
});

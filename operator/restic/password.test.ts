import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { checkPassword, KeyFileError, parseKeyFile, passwordOpensKey } from "./password.ts";

// A real repository made by the pinned restic (on PATH via e2e/tools/install.sh --print-path).
const RESTIC = process.env.RESTIC_BIN ?? "restic";

async function keyFiles(repo: string) {
  const dir = join(repo, "keys");
  const names = await readdir(dir);
  return Promise.all(names.map(async (name) => ({ name, content: await readFile(join(dir, name)) })));
}

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

  it("parses the key file restic wrote", async () => {
    const [file] = await keyFiles(repo);
    const key = parseKeyFile(file!.content);
    assert.equal(key.kdf, "scrypt");
    assert.ok(key.N >= 2 ** 14, `N=${key.N}`);
  });

  it("accepts the right password", async () => {
    const result = await checkPassword(password, await keyFiles(repo));
    assert.equal(result.result, "match");
  });

  it("rejects a wrong password, including one that differs by a trailing newline", async () => {
    assert.deepEqual(await checkPassword("wrong", await keyFiles(repo)), { result: "mismatch", keysTried: 1 });
    assert.deepEqual(await checkPassword(`${password}\n`, await keyFiles(repo)), { result: "mismatch", keysTried: 1 });
  });

  it("finds the second of two keys, as restic does", async () => {
    const second = await mkdtemp(join(tmpdir(), "blobstash-pw2-"));
    try {
      await writeFile(join(second, "pw"), "other password\n");
      await execa(RESTIC, ["key", "add", "--repo", repo, "--new-password-file", join(second, "pw")], { env: { RESTIC_PASSWORD: password } });
      const files = await keyFiles(repo);
      assert.equal(files.length, 2);
      assert.equal((await checkPassword("other password", files)).result, "match");
      assert.equal((await checkPassword(password, files)).result, "match");
      assert.deepEqual(await checkPassword("neither", files), { result: "mismatch", keysTried: 2 });
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

  it("reports a repository without keys, and skips unusable key files", async () => {
    assert.deepEqual(await checkPassword(password, []), { result: "noKeys" });
    const bad: string[] = [];
    const files = [{ name: "garbage", content: "not json" }, ...(await keyFiles(repo))];
    const result = await checkPassword(password, files, { onBadKey: (name) => bad.push(name) });
    assert.equal(result.result, "match");
    assert.deepEqual(bad, ["garbage"]);
  });
});

describe("parseKeyFile", () => {
  const good = { kdf: "scrypt", N: 16384, r: 8, p: 1, salt: Buffer.alloc(64, 1).toString("base64"), data: Buffer.alloc(64, 2).toString("base64") };
  it("accepts a well-formed key file", () => assert.equal(parseKeyFile(JSON.stringify(good)).N, 16384));
  for (const [what, patch] of [
    ["another kdf", { kdf: "argon2" }],
    ["N not a power of two", { N: 1000 }],
    ["a non-integer r", { r: 1.5 }],
    ["memory beyond the limit", { N: 2 ** 24, r: 8 }],
    ["a short salt", { salt: "AAAA" }],
    ["data too short for IV and MAC", { data: Buffer.alloc(32).toString("base64") }],
  ] as const) {
    it(`refuses ${what}`, () => assert.throws(() => parseKeyFile(JSON.stringify({ ...good, ...patch })), KeyFileError));
  }
  it("refuses non-JSON", () => assert.throws(() => parseKeyFile("{"), KeyFileError));
});

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import type { AzureClient } from "../../azure/clients.ts";
import { resticBinary } from "../../restic/fixtures.ts";
import { judgeKeyFile, PasswordChecker } from "./password-check.ts";

// Real repositories made by the pinned restic on the local backend; the checker reads them through
// a stand-in for the Azure client (a directory listed in name order, as Azure lists). restic's local
// backend lists in directory order, so it cannot say what restic does with a key file *before*
// another: e2e/repository-keys.test.ts asks restic that against Azurite, which lists by name.

const PASSWORD = "correct horse battery staple";
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** The few container calls the checker makes, over a local restic repository directory. */
function dirClient(root: string, stats: { downloads: number }): AzureClient {
  const container = {
    async *listBlobsFlat({ prefix }: { prefix: string }) {
      const dir = join(root, prefix);
      const names = (await readdir(dir).catch(() => [] as string[])).sort();
      for (const n of names) {
        const content = await readFile(join(dir, n));
        yield { name: `${prefix}${n}`, properties: { contentLength: content.length, etag: `"${sha256(content)}"` } };
      }
    },
    getBlobClient: (name: string) => ({
      async downloadToBuffer(offset: number, count: number) {
        stats.downloads++;
        return (await readFile(join(root, name))).subarray(offset, offset + count);
      },
    }),
  };
  return { service: { getContainerClient: () => container } } as unknown as AzureClient;
}

async function config(root: string) {
  const content = await readFile(join(root, "config"));
  return { size: content.length, etag: `"${sha256(content)}"` };
}

async function restic(repo: string, args: string[]) {
  return execa(resticBinary(), ["--repo", repo, "--no-cache", ...args], { env: { RESTIC_PASSWORD: PASSWORD }, reject: false });
}

/** Content made by `make(i)` for the first i whose hash (its key file name) sorts before or after `than`. */
function namedRelativeTo(than: string, side: "before" | "after", make: (i: number) => Buffer): { name: string; content: Buffer } {
  for (let i = 0; ; i++) {
    const content = make(i);
    const name = sha256(content);
    if (side === "before" ? name < than : name > than) return { name, content };
  }
}

async function onlyKey(repo: string): Promise<string> {
  const names = await readdir(join(repo, "keys"));
  assert.equal(names.length, 1);
  return names[0]!;
}

describe("PasswordChecker (real restic repositories)", function () {
  this.timeout(120_000);
  let work: string;
  let repoA: string;
  let repoB: string;
  const target = { container: "c", prefix: "" };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "blobstash-pwcheck-"));
    repoA = join(work, "a");
    repoB = join(work, "b");
    for (const r of [repoA, repoB]) assert.equal((await restic(r, ["init"])).exitCode, 0);
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("accepts the right password once, then answers from memory without downloading or deriving", async () => {
    const stats = { downloads: 0 };
    const checker = new PasswordChecker();
    const client = dirClient(repoA, stats);
    const first = await checker.check("ns/a", client, target, PASSWORD, await config(repoA));
    assert.equal(first.result, "match");
    const after = { downloads: stats.downloads, derivations: checker.derivations };
    assert.equal((await checker.check("ns/a", client, target, PASSWORD, await config(repoA))).result, "match");
    assert.deepEqual({ downloads: stats.downloads, derivations: checker.derivations }, after);
    assert.deepEqual(await checker.check("ns/a", client, target, "wrong", await config(repoA)), { result: "mismatch", keysTried: 1 });
  });

  it("is not Ready where restic fails: a garbage key file listed before the real one", async () => {
    const bad = namedRelativeTo(await onlyKey(repoA), "before", (i) => Buffer.from(`{"not":"a key file","n":${i}}`));
    const file = join(repoA, "keys", bad.name);
    await writeFile(file, bad.content);
    try {
      const verdict = await new PasswordChecker().check("ns/a", dirClient(repoA, { downloads: 0 }), target, PASSWORD, await config(repoA));
      assert.equal(verdict.result, "keyUnusable");
      assert.ok(verdict.result === "keyUnusable" && verdict.keyName === bad.name);
    } finally {
      await unlink(file);
    }
  });

  it("is Ready where restic succeeds: a garbage key file listed after the one that opens", async () => {
    const bad = namedRelativeTo(await onlyKey(repoA), "after", (i) => Buffer.from(`garbage ${i}`));
    const file = join(repoA, "keys", bad.name);
    await writeFile(file, bad.content);
    try {
      const verdict = await new PasswordChecker().check("ns/a", dirClient(repoA, { downloads: 0 }), target, PASSWORD, await config(repoA));
      assert.equal(verdict.result, "match");
    } finally {
      await unlink(file);
    }
  });

  it("refuses a key file copied in under another key's name (its content does not hash to its name)", async () => {
    const real = await onlyKey(repoA);
    const content = await readFile(join(repoA, "keys", real));
    const fake = "0".repeat(64); // sorts first
    await writeFile(join(repoA, "keys", fake), content);
    try {
      const verdict = await new PasswordChecker().check("ns/a", dirClient(repoA, { downloads: 0 }), target, PASSWORD, await config(repoA));
      assert.equal(verdict.result, "keyUnusable");
      assert.match(verdict.result === "keyUnusable" ? verdict.problem : "", /does not hash to its name/);
    } finally {
      await unlink(join(repoA, "keys", fake));
    }
  });

  it("refuses another repository's key file copied in whole, though the password opens it (restic: config or key is damaged)", async () => {
    const foreign = await onlyKey(repoB);
    const own = await onlyKey(repoA);
    const ownContent = await readFile(join(repoA, "keys", own));
    // Only the copy is left, so restic tries it whatever order its local backend lists in.
    await writeFile(join(repoA, "keys", foreign), await readFile(join(repoB, "keys", foreign)));
    await unlink(join(repoA, "keys", own));
    const checker = new PasswordChecker();
    try {
      const r = await restic(repoA, ["cat", "config"]);
      assert.notEqual(r.exitCode, 0);
      assert.match(r.stderr, /config or key .* is damaged/);
      const verdict = await checker.check("ns/a", dirClient(repoA, { downloads: 0 }), target, PASSWORD, await config(repoA));
      assert.equal(verdict.result, "configDamaged");
      // The same key file is good in its own repository: verdicts do not cross Repositories.
      assert.equal((await checker.check("ns/b", dirClient(repoB, { downloads: 0 }), target, PASSWORD, await config(repoB))).result, "match");
    } finally {
      await writeFile(join(repoA, "keys", own), ownContent);
      await unlink(join(repoA, "keys", foreign));
    }
    assert.equal((await checker.check("ns/a", dirClient(repoA, { downloads: 0 }), target, PASSWORD, await config(repoA))).result, "match");
  });

  it("reports a key whose scrypt parameters node refuses as unusable instead of throwing", async () => {
    const real = await onlyKey(repoA);
    const key = JSON.parse(await readFile(join(repoA, "keys", real), "utf8")) as Record<string, unknown>;
    // Go's scrypt takes N=2^17 with r=1; OpenSSL wants N < 2^(16r).
    const { name, content: body } = namedRelativeTo(real, "before", (i) => Buffer.from(JSON.stringify({ ...key, N: 2 ** 17, r: 1, p: 1, username: `u${i}` })));
    await writeFile(join(repoA, "keys", name), body);
    try {
      const verdict = await new PasswordChecker().check("ns/a", dirClient(repoA, { downloads: 0 }), target, PASSWORD, await config(repoA));
      assert.equal(verdict.result, "keyUnusable");
      // node's own words, or (once password.ts bounds parameters to what restic writes) its refusal: either names them.
      assert.match(verdict.result === "keyUnusable" ? verdict.problem : "", /scrypt|N=131072/i);
    } finally {
      await unlink(join(repoA, "keys", name));
    }
  });

  it("gives up after 20 key files, as restic does", async () => {
    const dir = await mkdtemp(join(tmpdir(), "blobstash-manykeys-"));
    try {
      assert.equal((await restic(dir, ["init"])).exitCode, 0);
      const real = await onlyKey(dir);
      const key = JSON.parse(await readFile(join(dir, "keys", real), "utf8")) as Record<string, unknown>;
      // Key files of the same repository that no password opens (cheap scrypt parameters, so 21 tries stay fast).
      for (let i = 0; i < 21; i++) {
        const body = Buffer.from(JSON.stringify({ ...key, N: 1024, r: 8, p: 1, username: `spare-${i}` }));
        await writeFile(join(dir, "keys", sha256(body)), body);
      }
      await unlink(join(dir, "keys", real));
      const verdict = await new PasswordChecker().check("ns/m", dirClient(dir, { downloads: 0 }), target, "any password", await config(dir));
      assert.deepEqual(verdict, { result: "tooManyKeys", keysTried: 20 });
      const r = await execa(resticBinary(), ["--repo", dir, "--no-cache", "cat", "config"], { env: { RESTIC_PASSWORD: "any password" }, reject: false });
      assert.match(r.stderr, /maximum number of keys reached/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("judgeKeyFile", () => {
  it("refuses capitals in a name, a missing body and a body that is not the name's", () => {
    const body = Buffer.from("{}");
    const capitals = judgeKeyFile({ name: sha256(body).toUpperCase(), size: 2 }, body);
    assert.ok("problem" in capitals && /capital letters/.test(capitals.problem));
    const tooBig = judgeKeyFile({ name: "a".repeat(64), size: 1 << 20 }, undefined);
    assert.ok("problem" in tooBig && /1048576 bytes/.test(tooBig.problem));
    const other = judgeKeyFile({ name: "a".repeat(64), size: 2 }, body);
    assert.ok("problem" in other && /does not hash to its name/.test(other.problem));
    const unparsable = judgeKeyFile({ name: sha256(body), size: 2 }, body);
    assert.ok("problem" in unparsable && /kdf/.test(unparsable.problem));
  });
});

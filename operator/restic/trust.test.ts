import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { combineBundles, EXTRA_CA_ENV, trustEnv } from "./trust.ts";

describe("restic/trust", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(os.tmpdir(), "trust-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("puts the extra bundle after the system roots, one newline between", () => {
    assert.equal(combineBundles("SYS", "EXTRA\n"), "SYS\nEXTRA\n");
    assert.equal(combineBundles("SYS\n", "EXTRA"), "SYS\nEXTRA\n");
    assert.equal(combineBundles("", "EXTRA\n"), "EXTRA\n");
  });

  it("needs nothing when no extra CA is configured", async () => {
    assert.deepEqual(await trustEnv({}, dir), {});
  });

  it("writes system roots plus the extra CA and points SSL_CERT_FILE at it", async () => {
    const system = path.join(dir, "system.crt");
    const extra = path.join(dir, "extra.crt");
    await writeFile(system, "SYSTEM ROOTS\n");
    await writeFile(extra, "EXTRA CA\n");
    // The scratch directory may not exist yet (a Job's TMPDIR inside an empty emptyDir).
    const env = await trustEnv({ [EXTRA_CA_ENV]: extra }, path.join(dir, "tmp"), [path.join(dir, "missing.crt"), system]);
    assert.equal(env.SSL_CERT_FILE, path.join(dir, "tmp", "ca-bundle.crt"));
    assert.equal(await readFile(env.SSL_CERT_FILE!, "utf8"), "SYSTEM ROOTS\nEXTRA CA\n");
  });

  it("names the extra bundle when it cannot be read", async () => {
    await assert.rejects(trustEnv({ [EXTRA_CA_ENV]: path.join(dir, "nope.crt") }, dir), /extra CA bundle .*nope\.crt cannot be read: ENOENT/);
  });
});

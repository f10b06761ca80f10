import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../cluster/tools.ts";
import { finalStage, parseDockerfile } from "./dockerfile.ts";
import { pinnedVersions } from "./recipe.ts";
import { BLOBSTASH_CONFIG, BLOBSTASH_PATHS, NONROOT_UID } from "./recipes/blobstash.ts";

describe("the Dockerfile and the image recipe (recipes/blobstash.ts)", () => {
  const stage = finalStage(parseDockerfile(readFileSync(path.join(repoRoot, "Dockerfile"), "utf8")));

  it("run the same user, entrypoint, command and working directory", () => {
    assert.equal(stage.user, BLOBSTASH_CONFIG.user);
    assert.deepEqual(stage.entrypoint, BLOBSTASH_CONFIG.entrypoint);
    assert.deepEqual(stage.cmd, BLOBSTASH_CONFIG.cmd);
    assert.equal(stage.workdir, BLOBSTASH_CONFIG.workingDir);
    assert.ok(stage.run.some((r) => new RegExp(`useradd -u ${NONROOT_UID} -g ${NONROOT_UID} .*nonroot`).test(r)), "both name uid 65532 nonroot");
  });

  it("set the same NODE_ENV and HOME", () => {
    for (const name of ["NODE_ENV", "HOME"]) assert.equal(stage.env[name], BLOBSTASH_CONFIG.env[name], name);
  });

  it("put the operator, its modules, the entry script, restic and the CA bundle at the same paths", () => {
    for (const p of [BLOBSTASH_PATHS.dist, BLOBSTASH_PATHS.nodeModules, BLOBSTASH_PATHS.packageJson, BLOBSTASH_PATHS.script, BLOBSTASH_PATHS.restic]) {
      assert.ok(stage.copied.includes(p), `${p} among ${stage.copied.join(", ")}`);
    }
    assert.equal(stage.links[BLOBSTASH_PATHS.blobstash], BLOBSTASH_PATHS.script);
    assert.ok(stage.run.some((r) => /apt-get install .*\bca-certificates\b/.test(r)), "Debian's ca-certificates gives /etc/ssl/certs/ca-certificates.crt");
  });

  it("take Node and restic at the versions the tool cache pins (e2e/tools/versions.env)", () => {
    const pinned = pinnedVersions();
    assert.equal(stage.globalArgs.NODE_VERSION, pinned.NODE_VERSION);
    assert.equal(stage.globalArgs.RESTIC_VERSION, pinned.RESTIC_VERSION);
    assert.match(stage.base, /^node:\$\{NODE_VERSION\}-/, "the runtime is the Node image of that version");
  });
});

// crds/ is the one source of truth; the Helm chart ships a copy (helm installs charts/*/crds/ before
// the templates). `make crds` refreshes the copy; this test fails whenever someone forgot to.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { repoRoot } from "../cluster/tools.ts";

const yamlFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort();

describe("chart CRDs", function () {
  const source = path.join(repoRoot, "crds");
  const chart = path.join(repoRoot, "charts/blobstash/crds");

  it("ships exactly the CRDs of crds/, byte for byte (run `make crds` after changing crds/)", function () {
    assert.ok(yamlFiles(source).length >= 4, "crds/ holds the four kinds");
    assert.deepEqual(yamlFiles(chart), yamlFiles(source), "charts/blobstash/crds/ lists other files than crds/: run `make crds`");
    for (const f of yamlFiles(source)) {
      assert.ok(readFileSync(path.join(chart, f)).equals(readFileSync(path.join(source, f))), `charts/blobstash/crds/${f} differs from crds/${f}: run \`make crds\``);
    }
  });
});

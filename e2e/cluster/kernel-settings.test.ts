import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { liveHolders } from "./kernel-settings.ts";

describe("kernel settings holders", () => {
  it("counts only holders whose process runs, and drops the ones a killed run left", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "kernel-settings-"));
    try {
      mkdirSync(path.join(dir, "holders"));
      writeFileSync(path.join(dir, "holders", "alive"), `${process.pid}\n`);
      writeFileSync(path.join(dir, "holders", "killed"), "2147483646\n");
      writeFileSync(path.join(dir, "holders", "garbage"), "not a pid\n");
      assert.deepEqual(liveHolders(dir), ["alive"]);
      assert.deepEqual(readdirSync(path.join(dir, "holders")), ["alive"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

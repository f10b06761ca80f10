// Restoring into a volume that already holds data: an older and a newer version of files the
// snapshot has, an identical one, and files only the volume has. Each choice of the RestoreSession
// (spec.overwrite, spec.deleteExtraFiles) does what the CRD and README say, the default included.
// Real restic against Azurite, data read back by toolbox pods.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { RestoreSessionSpec } from "../operator/api/backup.ts";
import { cluster } from "./fixture.ts";
import { BackupEnv } from "./backup-restore/harness.ts";
import { mustRunToolbox } from "./support/toolbox.ts";

const id = randomBytes(3).toString("hex");
const PASSWORD = `pw-${randomBytes(12).toString("hex")}`;
const FILES = ["a.txt", "b.txt", "same.txt", "meta.txt", "dir/c.txt", "extra.txt", "dir/extra2.txt"];
const OLD = "2010-01-01 00:00:00";
const BACKED_UP = "2020-01-01 00:00:00";
const NEW = "2030-01-01 00:00:00";

const SOURCE = [
  "set -eu",
  "mkdir -p /data/dir",
  "printf snapshot-a > /data/a.txt; printf snapshot-b > /data/b.txt; printf snapshot-same > /data/same.txt; printf snapshot-m > /data/meta.txt; printf snapshot-c > /data/dir/c.txt",
  `touch -d '${BACKED_UP}' /data/a.txt /data/b.txt /data/same.txt /data/meta.txt /data/dir/c.txt`,
].join("\n");

/**
 * An older a.txt, a newer b.txt, same.txt as backed up, meta.txt changed but with the size and mtime
 * of the snapshot's copy, dir/c.txt missing, two files only the volume has.
 */
const EXISTING = [
  "set -eu",
  "mkdir -p /data/dir",
  `printf volume-a-older > /data/a.txt && touch -d '${OLD}' /data/a.txt`,
  `printf volume-b-newer > /data/b.txt && touch -d '${NEW}' /data/b.txt`,
  `printf snapshot-same > /data/same.txt && touch -d '${BACKED_UP}' /data/same.txt`,
  `printf volume-mm! > /data/meta.txt && touch -d '${BACKED_UP}' /data/meta.txt`,
  "printf volume-only > /data/extra.txt; printf volume-only > /data/dir/extra2.txt",
].join("\n");

const SHOW = FILES.map((f) => `if [ -e /data/${f} ]; then echo "${f}=$(cat /data/${f})"; else echo "${f}=-"; fi`).join("\n");

type Contents = Record<string, string>;

const CASES: Array<{ name: string; spec: Partial<RestoreSessionSpec>; expect: Contents }> = [
  {
    // The default: every file of the snapshot as it was backed up, nothing deleted.
    name: "default",
    spec: {},
    // meta.txt has the snapshot copy's size and mtime: IfChanged takes it as unchanged and reads no content.
    expect: { "a.txt": "snapshot-a", "b.txt": "snapshot-b", "same.txt": "snapshot-same", "meta.txt": "volume-mm!", "dir/c.txt": "snapshot-c", "extra.txt": "volume-only", "dir/extra2.txt": "volume-only" },
  },
  {
    name: "always",
    spec: { overwrite: "Always" },
    // Always compares every file's content.
    expect: { "a.txt": "snapshot-a", "b.txt": "snapshot-b", "same.txt": "snapshot-same", "meta.txt": "snapshot-m", "dir/c.txt": "snapshot-c", "extra.txt": "volume-only", "dir/extra2.txt": "volume-only" },
  },
  {
    // Files changed after the backup (newer than the snapshot's copy) are kept.
    name: "if-newer",
    spec: { overwrite: "IfNewer" },
    expect: { "a.txt": "snapshot-a", "b.txt": "volume-b-newer", "same.txt": "snapshot-same", "meta.txt": "volume-mm!", "dir/c.txt": "snapshot-c", "extra.txt": "volume-only", "dir/extra2.txt": "volume-only" },
  },
  {
    // Only what is missing comes back.
    name: "never",
    spec: { overwrite: "Never" },
    expect: { "a.txt": "volume-a-older", "b.txt": "volume-b-newer", "same.txt": "snapshot-same", "meta.txt": "volume-mm!", "dir/c.txt": "snapshot-c", "extra.txt": "volume-only", "dir/extra2.txt": "volume-only" },
  },
  {
    // The volume as it was backed up.
    name: "delete",
    spec: { deleteExtraFiles: true },
    expect: { "a.txt": "snapshot-a", "b.txt": "snapshot-b", "same.txt": "snapshot-same", "meta.txt": "volume-mm!", "dir/c.txt": "snapshot-c", "extra.txt": "-", "dir/extra2.txt": "-" },
  },
];

describe("restoring into a volume that holds data (real restic, Azurite, toolbox pods)", function () {
  this.timeout(120_000);
  let env: BackupEnv;
  let snapshot = "";

  before(async function () {
    env = new BackupEnv(cluster(), `e2e-restore-modes-${id}`, `operator-restore-modes-${id}`);
    await env.setUp();
    await env.storageSecret("azure-secret", PASSWORD);
    await env.repository("main", "azure-secret", `/e2e/restore-modes-${id}`);
    await env.pvc("source");
    await mustRunToolbox(env.core, { namespace: env.ns, pvc: "source", name: "write", script: SOURCE });
    await env.backupConfiguration("data", { repository: { name: "main" }, backupHistoryLimit: 5 }, "source");
    await env.backupSession("data-1", "data");
    snapshot = (await env.waitForPhase("backupsessions", "data-1", ["Succeeded"], 90_000)).status!.snapshot!;
    await Promise.all(CASES.map(async (c) => {
      await env.pvc(c.name);
      await mustRunToolbox(env.core, { namespace: env.ns, pvc: c.name, name: "existing", script: EXISTING });
    }));
  });

  after(async function () {
    await env?.tearDown();
  });

  const contents = async (pvc: string): Promise<Contents> => {
    const r = await mustRunToolbox(env.core, { namespace: env.ns, pvc, readOnly: true, name: "show", script: SHOW });
    return Object.fromEntries(r.log.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  };

  it("does for each choice what the documentation says", async function () {
    // All at once: they queue on the Repository and run in order.
    for (const c of CASES) await env.restoreSession(`restore-${c.name}`, "main", c.name, { snapshots: [snapshot] }, c.spec);
    for (const c of CASES) {
      const done = await env.waitForPhase("restoresessions", `restore-${c.name}`, ["Succeeded"], 90_000);
      assert.ok((done.status?.filesSkipped ?? 0) >= 1, `${c.name}: same.txt was left alone (filesSkipped ${done.status?.filesSkipped})`);
      assert.deepEqual(await contents(c.name), c.expect, `${c.name} (${JSON.stringify(c.spec)})`);
      if (c.name === "delete") assert.equal(done.status?.filesDeleted, 2, "extra.txt and dir/extra2.txt deleted");
      else assert.ok(!done.status?.filesDeleted, `${c.name} deleted nothing: ${done.status?.filesDeleted}`);
    }
  });
});

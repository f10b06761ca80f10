// `make demo` as a user runs it on a fresh clone, from a clean state: its own local cluster in a
// state dir of its own (DIR=, so neither .local nor the shared test cluster is touched), the demo's
// final line and exit code, a second run on the same cluster (the demo is re-runnable), then
// `make down` leaving no process behind.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { execa } from "execa";
import { isRunning, readRecords } from "./cluster/supervisor.ts";
import { repoRoot } from "./cluster/tools.ts";
import { exampleNames } from "./demo/examples.ts";
import { readTree } from "./support/toolbox.ts";
import { diffTrees } from "./support/tree.ts";

const OK = "demo: OK — restored data matches the source";
// A user's shell: none of the variables the test fixture put into this process (KUBECONFIG, proxy, state dir).
const userEnv = { HOME: process.env.HOME ?? "/root", PATH: "/usr/local/bin:/usr/bin:/bin", LANG: "C.UTF-8" };

describe("make demo, from a clean state, twice (its own local cluster)", function () {
  this.timeout(600_000);
  let dir: string;
  const names = exampleNames();
  // -o: npm dependencies count as installed; `make test` installed them before any test ran, and a
  // reinstall must never pull node_modules from under this very test run.
  const make = (target: string) =>
    execa("make", ["--no-print-directory", "-o", "node_modules/.installed", target, `DIR=${dir}`], { cwd: repoRoot, env: userEnv, extendEnv: false, all: true, reject: false });
  const lastLine = (out: string) => out.trimEnd().split("\n").at(-1);

  before(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), "blobstash-demo-"));
  });

  after(async function () {
    // Only reached with processes up if an assertion failed midway; down is idempotent.
    await make("down");
    await rm(dir, { recursive: true, force: true });
  });

  it("brings up the environment, backs up and restores the sample data, and says so on its last line", async function () {
    const r = await make("demo");
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(lastLine(r.stdout), OK, r.all);
    assert.match(r.stdout, /cluster up in/, "make demo ran make up first");
    assert.match(r.stdout, /helm release blobstash in blobstash-system: image localhost\/blobstash:\S+, 2 pods ready/);
    // Phase changes are printed as they happen, in order.
    const running = r.stdout.indexOf(`BackupSession/${names.backupSession}: Running`);
    const succeeded = r.stdout.indexOf(`BackupSession/${names.backupSession}: Succeeded`);
    const restored = r.stdout.indexOf(`RestoreSession/${names.restoreSession}: Succeeded`);
    assert.ok(running >= 0 && running < succeeded && succeeded < restored, r.stdout);
    // The backup initialized the repository: the Repository says so at once, not a revalidation
    // period (60 s under make up) later.
    const at = (line: string) => Number(new RegExp(`\\[\\s*([\\d.]+) s\\] ${line.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`).exec(r.stdout)?.[1]);
    const backupAt = at(`BackupSession/${names.backupSession}: Succeeded`);
    const readyAt = at(`Repository/${names.repository}: Ready=True (Ready)`);
    assert.ok(readyAt - backupAt < 20, `Ready ${readyAt - backupAt} s after the backup`);
    assert.match(r.stdout, new RegExp(`repository.stash.appscode.com/${names.repository}\\s+True\\s+Ready\\s+${names.container}\\s+1\\s`), "kubectl get shows the Repository Ready with one snapshot");
    assert.match(r.stdout, new RegExp(`backupsession.stash.appscode.com/${names.backupSession}\\s+\\S+\\s+Succeeded`));
    assert.match(r.stdout, new RegExp(`restoresession.stash.appscode.com/${names.restoreSession}\\s+\\S+\\s+Succeeded`));
    assert.match(r.stdout, /kubectl describe repository/);
    assert.match(r.stdout, /kubectl get --raw \/api\/v1\/namespaces\/blobstash-system\/services\/blobstash-metrics:metrics\/proxy\/metrics/);
    assert.match(r.stdout, new RegExp(`make down DIR=${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    // Checked here too, not only by the demo's own word: read back through toolbox pods on the demo's cluster.
    const kc = new KubeConfig();
    kc.loadFromFile(path.join(dir, "kubeconfig"));
    const core = kc.makeApiClient(CoreV1Api);
    const source = await readTree(core, names.namespace, names.sourcePvc);
    assert.ok(source.length > 10);
    assert.deepEqual(diffTrees(source, await readTree(core, names.namespace, names.restorePvc)), []);
  });

  it("runs again on the same cluster, from a fresh namespace and repository", async function () {
    const pids = Object.fromEntries(readRecords(dir).map((p) => [p.name, p.pid]));
    const r = await make("demo");
    assert.equal(r.exitCode, 0, r.all);
    assert.equal(lastLine(r.stdout), OK, r.all);
    assert.match(r.stdout, /already running in .*; reusing it/);
    assert.match(r.stdout, new RegExp(`deleting the previous run's namespace ${names.namespace}`));
    assert.match(r.stdout, /removed the previous run's restic repository/);
    assert.deepEqual(Object.fromEntries(readRecords(dir).map((p) => [p.name, p.pid])), pids, "the same processes served both runs");
  });

  it("is stopped by make down, with nothing left running", async function () {
    const records = readRecords(dir);
    assert.ok(records.length >= 6);
    const r = await make("down");
    assert.equal(r.exitCode, 0, r.all);
    assert.match(r.stdout, /none of them runs any more/);
    assert.deepEqual(records.filter(isRunning).map((p) => p.name), []);
    assert.equal(existsSync(path.join(dir, "cluster.json")), false);
  });
});

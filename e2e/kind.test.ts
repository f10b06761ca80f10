// `make e2e-kind` cannot run without Docker, and must say so at once instead of failing obscurely
// after minutes of building. Docker is made unusable on purpose here (an engine socket that does
// not exist, or no docker command), so this holds on machines with Docker too. What the kind flow
// puts into the cluster besides the chart is checked against the real API server (dry run).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { execa } from "execa";
import { cluster } from "./fixture.ts";
import { repoRoot, tool } from "./cluster/tools.ts";
import { azuriteManifests, toolPod } from "./kind/manifests.ts";

const NO_DOCKER = "make e2e-kind needs Docker; none runs on this machine";
const script = path.join(repoRoot, "e2e/kind/run.sh");
const baseEnv = { HOME: process.env.HOME ?? "/root", LANG: "C.UTF-8" };

describe("make e2e-kind without Docker", function () {
  this.timeout(60_000);

  it("exits 3 at once with a clear message when no Docker engine answers", async function () {
    const t0 = Date.now();
    const r = await execa("bash", [script], {
      env: { ...baseEnv, PATH: "/usr/local/bin:/usr/bin:/bin", DOCKER_HOST: "unix:///nonexistent/blobstash-test/docker.sock" },
      extendEnv: false, reject: false,
    });
    assert.equal(r.exitCode, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`^${NO_DOCKER} \\(docker info: .*\\S\\)$`));
    assert.equal(r.stdout, "", "nothing was built");
    assert.ok(Date.now() - t0 < 30_000);
  });

  it("exits 3 with a clear message when there is no docker command", async function () {
    const r = await execa("bash", [script], { env: { ...baseEnv, PATH: "/usr/bin:/bin" }, extendEnv: false, reject: false });
    assert.equal(r.exitCode, 3, r.stderr);
    assert.equal(r.stderr.trim(), `${NO_DOCKER} (no docker command on PATH)`);
  });

  it("fails the make target with that message", async function () {
    const r = await execa("make", ["--no-print-directory", "e2e-kind"], {
      cwd: repoRoot, env: { ...baseEnv, PATH: "/usr/local/bin:/usr/bin:/bin", DOCKER_HOST: "unix:///nonexistent/blobstash-test/docker.sock" },
      extendEnv: false, reject: false, all: true,
    });
    assert.notEqual(r.exitCode, 0);
    assert.match(r.all, new RegExp(NO_DOCKER));
    assert.match(r.all, /e2e-kind\] Error 3/);
  });

  it("puts objects into the kind cluster that a real API server accepts", async function () {
    const ns = `e2e-kind-${randomBytes(3).toString("hex")}`;
    const kubectl = (args: string[], input?: string) => execa(tool("kubectl"), args, { env: { KUBECONFIG: cluster().kubeconfig }, input, reject: false, all: true });
    assert.equal((await kubectl(["create", "namespace", ns])).exitCode, 0);
    try {
      const objs = [
        // Moved into this test's namespace: the emulator's own ("blob") does not exist here.
        ...azuriteManifests({ account: "devstoreaccount1", key: "a2V5", tlsCert: "CERT", tlsKey: "KEY", shim: "//", azuriteVersion: "3.37.0", nodeImage: "node:24-bookworm-slim" })
          .filter((o) => o.kind !== "Namespace")
          .map((o) => ({ ...o, metadata: { ...(o.metadata as object), namespace: ns } })),
        toolPod({ name: "create-container", namespace: ns, image: "blobstash:e2e-kind", pvc: "source-data", command: ["node", "-e", "1"] }),
      ];
      const r = await kubectl(["apply", "--server-side", "--dry-run=server", "-f", "-"], objs.map((o) => JSON.stringify(o)).join("\n"));
      assert.equal(r.exitCode, 0, r.all);
      assert.equal(r.stdout.split("\n").filter((l) => l.endsWith("(server dry run)")).length, objs.length, r.all);
    } finally {
      await kubectl(["delete", "namespace", ns, "--wait=false"]);
    }
  });
});

import assert from "node:assert/strict";
import type { V1Container, V1Pod } from "@kubernetes/client-node";
import { referencedObjects, resolveContainerEnv, type EnvObjects, type NodeFacts } from "./env.ts";
import { makePathRewriter } from "./paths.ts";
import { buildProcessSpec } from "./process-spec.ts";

const facts: NodeFacts = { nodeName: "node-a", ip: "127.0.0.1", allocatable: { cpu: 2, memory: 4 * 2 ** 30 } };
const objects: EnvObjects = {
  secrets: new Map([
    ["creds", { RESTIC_PASSWORD: "p/data w$(X)", TOKEN: "t" }],
    ["gone", null],
  ]),
  configMaps: new Map([["cfg", { MODE: "fast", "bad=key": "x" }]]),
};

function pod(container: V1Container): V1Pod {
  return {
    metadata: { name: "p1", namespace: "ns1", uid: "uid-1", labels: { app: "x" } },
    spec: { nodeName: "node-a", serviceAccountName: "sa", containers: [container] },
  };
}

function resolve(container: V1Container, rewrite?: (s: string) => string) {
  return resolveContainerEnv(pod(container), container, objects, facts, rewrite);
}

describe("node-agent env resolution", () => {
  it("lists the Secrets and ConfigMaps a container refers to", () => {
    const refs = referencedObjects({
      name: "c",
      envFrom: [{ secretRef: { name: "s1" } }, { configMapRef: { name: "c1" } }],
      env: [{ name: "A", valueFrom: { secretKeyRef: { name: "s2", key: "k" } } }, { name: "B", value: "x" }],
    });
    assert.deepEqual([...refs.secrets], ["s1", "s2"]);
    assert.deepEqual([...refs.configMaps], ["c1"]);
  });

  it("resolves literals, secretKeyRef, configMapKeyRef and fieldRef; later entries win", () => {
    const r = resolve({
      name: "c",
      envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CM_" }],
      env: [
        { name: "PW", valueFrom: { secretKeyRef: { name: "creds", key: "RESTIC_PASSWORD" } } },
        { name: "MODE", valueFrom: { configMapKeyRef: { name: "cfg", key: "MODE" } } },
        { name: "POD", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
        { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
        { name: "UID", valueFrom: { fieldRef: { fieldPath: "metadata.uid" } } },
        { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
        { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
        { name: "APP", valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: "MEM", valueFrom: { resourceFieldRef: { resource: "limits.memory", divisor: "1Mi" } } },
        { name: "MODE", value: "slow-$(CM_MODE)" },
      ],
    });
    assert.ok(r.ok);
    assert.deepEqual(Object.fromEntries(r.env), {
      CM_MODE: "fast",
      PW: "p/data w$(X)",
      MODE: "slow-fast",
      POD: "p1",
      NS: "ns1",
      UID: "uid-1",
      NODE: "node-a",
      IP: "127.0.0.1",
      APP: "x",
      MEM: "4096",
    });
  });

  it("fails with kubelet's reason when a required Secret, ConfigMap or key is missing", () => {
    const missingKey = resolve({ name: "c", env: [{ name: "A", valueFrom: { secretKeyRef: { name: "creds", key: "NOPE" } } }] });
    assert.deepEqual(missingKey, {
      ok: false,
      reason: "CreateContainerConfigError",
      message: "couldn't find key NOPE in Secret ns1/creds",
    });
    const missingSecret = resolve({ name: "c", env: [{ name: "A", valueFrom: { secretKeyRef: { name: "gone", key: "k" } } }] });
    assert.equal(!missingSecret.ok && missingSecret.message, 'secret "gone" not found');
    const missingEnvFrom = resolve({ name: "c", envFrom: [{ configMapRef: { name: "absent" } }] });
    assert.equal(!missingEnvFrom.ok && missingEnvFrom.message, 'configmap "absent" not found');
    const badField = resolve({ name: "c", env: [{ name: "A", valueFrom: { fieldRef: { fieldPath: "spec.nope" } } }] });
    assert.equal(badField.ok, false);
  });

  it("skips optional sources that are missing", () => {
    const r = resolve({
      name: "c",
      envFrom: [{ secretRef: { name: "gone", optional: true } }],
      env: [
        { name: "A", valueFrom: { secretKeyRef: { name: "gone", key: "k", optional: true } } },
        { name: "B", valueFrom: { configMapKeyRef: { name: "cfg", key: "NOPE", optional: true } } },
        { name: "C", value: "c" },
      ],
    });
    assert.ok(r.ok);
    assert.deepEqual(Object.fromEntries(r.env), { C: "c" });
  });

  it("skips envFrom keys that cannot be env names", () => {
    const r = resolve({ name: "c", envFrom: [{ configMapRef: { name: "cfg" } }] });
    assert.ok(r.ok);
    assert.deepEqual([...r.env.keys()], ["MODE"]);
  });

  it("rewrites literal values but never Secret values", () => {
    const rewrite = makePathRewriter([{ from: "/data", to: "/host/pvc" }]);
    const r = resolve(
      {
        name: "c",
        env: [
          { name: "DIR", value: "/data/sub" },
          { name: "PW", valueFrom: { secretKeyRef: { name: "creds", key: "RESTIC_PASSWORD" } } },
        ],
      },
      rewrite,
    );
    assert.ok(r.ok);
    assert.equal(r.env.get("DIR"), "/host/pvc/sub");
    assert.equal(r.env.get("PW"), "p/data w$(X)");
  });
});

describe("node-agent process spec", () => {
  const rewrite = makePathRewriter([
    { from: "/data", to: "/host/pvc" },
    { from: "/dev/termination-log", to: "/host/pod/main.termination-log" },
  ]);
  const opts = { nodeEnv: { PATH: "/usr/bin", HOME: "/root" }, rewrite, defaultCwd: "/host/pod/cwd", rootDir: "/host/pod/root" };

  it("rewrites then expands command and args, overlays env on the node's", () => {
    const env = new Map([
      ["SUB", "x"],
      ["HOME", "/home/c"],
    ]);
    const r = buildProcessSpec(
      { name: "c", command: ["sh", "-c"], args: ["echo done > /dev/termination-log; ls /data/$(SUB) $$HOME"] },
      env,
      opts,
    );
    assert.ok(r.ok);
    assert.equal(r.spec.file, "sh");
    assert.deepEqual(r.spec.args, ["-c", "echo done > /host/pod/main.termination-log; ls /host/pvc/x $HOME"]);
    assert.deepEqual(r.spec.env, { PATH: "/usr/bin", HOME: "/home/c", SUB: "x" });
    assert.equal(r.spec.cwd, "/host/pod/cwd");
  });

  it("maps workingDir through mounts, else into the pod's private root", () => {
    const inMount = buildProcessSpec({ name: "c", command: ["true"], workingDir: "/data/w" }, new Map(), opts);
    assert.ok(inMount.ok);
    assert.equal(inMount.spec.cwd, "/host/pvc/w");
    const outside = buildProcessSpec({ name: "c", command: ["true"], workingDir: "/work" }, new Map(), opts);
    assert.ok(outside.ok);
    assert.equal(outside.spec.cwd, "/host/pod/root/work");
  });

  it("refuses a container without command (image entrypoints are unknown)", () => {
    const r = buildProcessSpec({ name: "c", args: ["x"] }, new Map(), opts);
    assert.equal(r.ok, false);
  });
});

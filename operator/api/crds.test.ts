// The backup/restore CRDs in crds/: structural schemas (every field typed), a description on every
// field, the printer columns users look at, and Stash's unsupported fields accepted (so the
// controllers can refuse them by name) rather than pruned.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parse } from "yaml";

interface Schema {
  type?: string;
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  "x-kubernetes-preserve-unknown-fields"?: boolean;
  "x-kubernetes-int-or-string"?: boolean;
  required?: string[];
}

interface Crd {
  spec: {
    group: string;
    names: { kind: string; plural: string };
    versions: Array<{ name: string; subresources?: { status?: object }; additionalPrinterColumns?: Array<{ name: string; jsonPath: string }>; schema: { openAPIV3Schema: Schema } }>;
  };
}

function load(plural: string): Crd {
  return parse(readFileSync(new URL(`../../crds/${plural}.stash.appscode.com.yaml`, import.meta.url), "utf8")) as Crd;
}

/** Paths of fields without a type (non-structural) or without a description. */
function problems(schema: Schema, path: string): string[] {
  const out: string[] = [];
  if (!schema.type && !schema["x-kubernetes-int-or-string"]) out.push(`${path}: no type`);
  if (!schema.description && path !== "metadata" && !path.endsWith("[]")) out.push(`${path}: no description`);
  for (const [k, v] of Object.entries(schema.properties ?? {})) {
    if (k === "metadata") continue;
    out.push(...problems(v, path ? `${path}.${k}` : k));
  }
  if (schema.items) out.push(...problems(schema.items, `${path}[]`).filter((p) => !p.endsWith("[]: no description")));
  for (const r of schema.required ?? []) if (!schema.properties?.[r]) out.push(`${path}: requires unknown field ${r}`);
  return out;
}

function at(schema: Schema, path: string): Schema | undefined {
  let s: Schema | undefined = schema;
  for (const part of path.split(".")) s = part === "[]" ? s?.items : s?.properties?.[part];
  return s;
}

describe("backup and restore CRDs", () => {
  for (const plural of ["backupconfigurations", "backupsessions", "restoresessions"]) {
    it(`${plural}: v1beta1, structural, every field described, status subresource`, () => {
      const crd = load(plural);
      assert.equal(crd.spec.group, "stash.appscode.com");
      assert.equal(crd.spec.names.plural, plural);
      const v = crd.spec.versions[0]!;
      assert.equal(v.name, "v1beta1");
      assert.deepEqual(v.subresources?.status, {});
      assert.deepEqual(problems(v.schema.openAPIV3Schema, ""), []);
    });
  }

  it("shows phase, repository, snapshot, duration and age for sessions", () => {
    for (const plural of ["backupsessions", "restoresessions"]) {
      const cols = load(plural).spec.versions[0]!.additionalPrinterColumns!.map((c) => c.name);
      for (const c of ["Phase", "Repository", "Snapshot", "Duration", "Age"]) assert.ok(cols.includes(c), `${plural} lacks ${c}`);
    }
    const bc = load("backupconfigurations").spec.versions[0]!.additionalPrinterColumns!.map((c) => c.name);
    for (const c of ["Repository", "Schedule", "Paused", "Phase", "Age"]) assert.ok(bc.includes(c), `backupconfigurations lacks ${c}`);
  });

  it("accepts Stash's unsupported fields so they can be refused by name", () => {
    const bc = load("backupconfigurations").spec.versions[0]!.schema.openAPIV3Schema;
    for (const p of ["spec.hooks", "spec.interimVolumeTemplate", "spec.retryConfig", "spec.runtimeSettings.container", "spec.runtimeSettings.pod"]) {
      assert.equal(at(bc, p)?.["x-kubernetes-preserve-unknown-fields"], true, p);
    }
    for (const p of ["spec.task.name", "spec.driver", "spec.target.replicas", "spec.target.volumeSnapshotClassName", "spec.target.args", "spec.target.ref.kind"]) {
      assert.ok(at(bc, p), p);
    }
    const rs = load("restoresessions").spec.versions[0]!.schema.openAPIV3Schema;
    for (const p of ["spec.hooks", "spec.interimVolumeTemplate", "spec.target.volumeClaimTemplates.[]"]) {
      assert.equal(at(rs, p)?.["x-kubernetes-preserve-unknown-fields"], true, p);
    }
    for (const p of ["spec.target.rules.[].targetHosts", "spec.target.rules.[].snapshots", "spec.target.rules.[].include", "spec.target.rules.[].exclude", "spec.target.rules.[].paths", "spec.target.rules.[].sourceHost"]) {
      assert.ok(at(rs, p), p);
    }
  });

  it("has the status fields the controllers write", () => {
    const bs = load("backupsessions").spec.versions[0]!.schema.openAPIV3Schema;
    for (const p of ["status.phase", "status.sessionDuration", "status.repository", "status.snapshot", "status.conditions", "status.targets.[].stats.[].snapshots.[].fileStats.newFiles"]) {
      assert.ok(at(bs, p), p);
    }
    const rs = load("restoresessions").spec.versions[0]!.schema.openAPIV3Schema;
    for (const p of ["status.phase", "status.sessionDuration", "status.snapshot", "status.filesRestored", "status.bytesRestored", "status.stats.[].error"]) {
      assert.ok(at(rs, p), p);
    }
  });
});

import assert from "node:assert/strict";
import type { V1Job } from "@kubernetes/client-node";
import { nonRootNotice, privilegeMode, withNonRootUid, RESTRICTED_DEFAULT_UID } from "./privilege.ts";
import { BACKUP_CAPABILITIES, containerSecurityContext } from "./pod.ts";

const restricted = { "pod-security.kubernetes.io/enforce": "restricted" };

describe("Job privilege mode", () => {
  it("runs as root with the role's capabilities unless someone asks otherwise, also where baseline is enforced", () => {
    assert.deepEqual(privilegeMode(undefined, {}, "demo", undefined), { kind: "root" });
    assert.deepEqual(privilegeMode(undefined, {}, "demo", { "pod-security.kubernetes.io/enforce": "baseline" }), { kind: "root" });
    assert.equal(nonRootNotice({ kind: "root" }, "backup"), undefined);
  });

  it("says before the Job runs what a non-root uid from runtimeSettings cannot read", () => {
    const mode = privilegeMode({ pod: { securityContext: { runAsUser: 1000 } } }, {}, "demo", undefined);
    assert.deepEqual(mode, { kind: "nonRoot", uid: 1000, source: "runtimeSettings", forced: false });
    const c = nonRootNotice(mode, "backup")!;
    assert.equal(c.type, "NonRootMode");
    assert.equal(c.status, "True");
    assert.equal(c.reason, "NonRootRequested");
    assert.match(c.message, /runs as uid 1000 with no capabilities because runtimeSettings\.pod\.securityContext\.runAsUser asks for it/);
    assert.match(c.message, /cannot read files and directories that uid 1000 may not read/);
    assert.match(c.message, /PartiallyFailed, naming them in status\.unreadableFiles/);
  });

  it("says what a non-root restore cannot give back", () => {
    const c = nonRootNotice(privilegeMode(undefined, { runAsUser: 2000 }, "demo", undefined), "restore")!;
    assert.match(c.message, /the operator's default Job uid is not root/);
    assert.match(c.message, /belong to uid 2000, not to their original owners, lose setuid and setgid bits/);
  });

  it("runs as the image's non-root user where restricted is enforced and nobody chose a uid, and says so", () => {
    const mode = privilegeMode(undefined, {}, "locked", restricted);
    assert.deepEqual(mode, { kind: "nonRoot", uid: RESTRICTED_DEFAULT_UID, source: "restricted", forced: true });
    const c = nonRootNotice(mode, "backup")!;
    assert.equal(c.reason, "PodSecurityRestricted");
    assert.match(c.message, /enforces the Pod Security Standard "restricted"/);
    assert.match(c.message, /enforce "baseline" to run the Job as root/);
    // A chosen non-root uid is kept.
    assert.deepEqual(privilegeMode({ pod: { securityContext: { runAsUser: 1000 } } }, {}, "locked", restricted), { kind: "nonRoot", uid: 1000, source: "runtimeSettings", forced: false });
  });

  it("refuses root asked for explicitly where restricted is enforced, naming the setting", () => {
    const mode = privilegeMode({ pod: { securityContext: { runAsUser: 0 } } }, {}, "locked", restricted);
    assert.equal(mode.kind, "refused");
    assert.ok(mode.kind === "refused" && mode.reason === "PodSecurityRestricted" && /runAsUser asks for 0/.test(mode.message), JSON.stringify(mode));
  });

  it("changes a root Job into one restricted admits: non-root, no capability, RuntimeDefault seccomp", () => {
    const job: V1Job = {
      spec: {
        template: {
          spec: {
            securityContext: { runAsUser: 0, runAsGroup: 0, fsGroup: 7 },
            containers: [{ name: "restic", securityContext: containerSecurityContext(0, BACKUP_CAPABILITIES) }],
          },
        },
      },
    };
    const out = withNonRootUid(job, 65532);
    const pod = out.spec!.template.spec!;
    assert.deepEqual(pod.securityContext, { runAsUser: 65532, runAsGroup: 65532, fsGroup: 7, runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    assert.deepEqual(pod.containers[0]!.securityContext, { runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    assert.equal(job.spec!.template.spec!.securityContext!.runAsUser, 0, "the input is left alone");
  });
});

import assert from "node:assert/strict";
import { sessionEnd, sessionSucceeded, stateOf } from "./follow.ts";

const cond = (type: string, status: "True" | "False" | "Unknown", reason: string, message: string) => ({ type, status, reason, message, lastTransitionTime: "2026-01-01T00:00:00Z" });

describe("demo progress lines", function () {
  it("says where a Repository stands, with the message whenever it is not plainly Ready", function () {
    assert.equal(stateOf("Repository", undefined), "not found");
    assert.equal(stateOf("Repository", { status: {} }), "waiting for the operator's first check");
    assert.equal(stateOf("Repository", { status: { conditions: [cond("Ready", "True", "Ready", "backups can run")] } }), "Ready=True (Ready)");
    assert.equal(
      stateOf("Repository", { status: { conditions: [cond("SecretValid", "False", "SecretNotFound", "x"), cond("Ready", "False", "SecretNotFound", "Secret s not found")] } }),
      "Ready=False (SecretNotFound) — Secret s not found",
    );
  });

  it("says a session's phase and why it is there", function () {
    assert.equal(stateOf("BackupSession", { status: {} }), "created, no phase yet");
    assert.equal(stateOf("BackupSession", { status: { phase: "Running" } }), "Running");
    assert.equal(
      stateOf("RestoreSession", { status: { phase: "Pending", conditions: [cond("Completed", "Unknown", "Queued", "waits for Job b")] } }),
      "Pending (Queued: waits for Job b)",
    );
  });

  it("ends a wait on success, and on failure with the reason", function () {
    assert.equal(sessionEnd({ status: { phase: "Running" } }), undefined);
    assert.deepEqual(sessionEnd({ status: { phase: "Succeeded" } }), { succeeded: true });
    const failed = { status: { phase: "Failed", conditions: [cond("Completed", "False", "WrongPassword", "RESTIC_PASSWORD opens no key")] } };
    assert.deepEqual(sessionEnd(failed), { succeeded: false, why: "WrongPassword: RESTIC_PASSWORD opens no key" });
    const until = sessionSucceeded({ kind: "BackupSession", name: "b" });
    assert.equal(until(new Map([["BackupSession/b", { status: { phase: "Pending" } }]])), undefined);
    assert.equal(until(new Map([["BackupSession/b", { status: { phase: "Succeeded" } }]])), true);
    assert.equal(until(new Map([["BackupSession/b", failed]])), "BackupSession/b failed — WrongPassword: RESTIC_PASSWORD opens no key");
  });
});

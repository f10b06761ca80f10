import assert from "node:assert/strict";
import type { Repository } from "../../api/repository.ts";
import { checkDue, integrityConditionCurrent, integrityStatus, lastCheckFrom, nextSubset } from "./integrity.ts";

const now = new Date("2026-03-01T03:30:00Z");
const repo = (spec: Repository["spec"], extra: Partial<Repository> = {}): Repository => ({
  metadata: { name: "r", namespace: "n", uid: "u", creationTimestamp: new Date("2026-02-01T00:00:00Z"), ...(extra.metadata ?? {}) },
  spec,
  status: extra.status,
});

describe("integrity from restic check", () => {
  it("a passed check makes integrity true; damage false with restic's words; a check that could not run leaves it", () => {
    const pass = lastCheckFrom({ state: "finished", succeeded: true, reason: "Succeeded", message: "ok" }, "j1", "request:a", undefined, now);
    assert.deepEqual([integrityStatus({ integrity: false }, pass, now).integrity, pass.request], [true, "a"]);
    const damaged = lastCheckFrom({ state: "finished", succeeded: false, reason: "RepositoryDamaged", message: "pack 1d9c: does not exist" }, "j2", undefined, "1/3", now);
    const s = integrityStatus({ integrity: true }, damaged, now);
    const c = s.conditions?.find((x) => (x.type as string) === "IntegrityVerified");
    assert.deepEqual([s.integrity, c?.status, c?.reason], [false, "False", "RepositoryDamaged"]);
    assert.match(c?.message ?? "", /pack 1d9c: does not exist/, "restic's words reach the condition");
    assert.match(c?.message ?? "", /subset 1\/3/);
    const failed = lastCheckFrom({ state: "finished", succeeded: false, reason: "NetworkError", message: "dial tcp" }, "j3", undefined, undefined, now);
    const f = integrityStatus({ integrity: true }, failed, now);
    assert.deepEqual([f.integrity, f.conditions?.[0]?.status, f.lastCheck?.result], [true, "Unknown", "Failed"]);
  });

  it("keeps the other writers' conditions and notices when its own was dropped", () => {
    const pass = lastCheckFrom({ state: "finished", succeeded: true, reason: "Succeeded", message: "ok" }, "j1", undefined, undefined, now);
    const ready = { type: "Ready" as const, status: "True" as const, reason: "Ready", message: "ok", lastTransitionTime: "2026-01-01T00:00:00Z" };
    const s = integrityStatus({ conditions: [ready] }, pass, now);
    assert.deepEqual(s.conditions?.map((c) => c.type), ["Ready", "IntegrityVerified"]);
    assert.equal(integrityConditionCurrent({ ...s }), true);
    assert.equal(integrityConditionCurrent({ lastCheck: pass, conditions: [ready] }), false, "a status without the condition must be repaired");
  });
});

describe("checkDue", () => {
  it("runs once per new check-now annotation value", () => {
    const asked = repo({}, { metadata: { annotations: { "blobstash.io/check-now": "x1" } } });
    const d = checkDue(asked, new Set(), now);
    assert.ok(d.due && d.trigger === "request:x1");
    assert.equal(checkDue(asked, new Set(["request:x1"]), now).due, false, "a queued check answers it");
    const answered = repo({}, { metadata: { annotations: { "blobstash.io/check-now": "x1" } }, status: { lastCheck: { job: "j", time: "t", result: "Passed", reason: "CheckPassed", message: "", request: "x1" } } });
    assert.equal(checkDue(answered, new Set(), now).due, false);
  });

  it("runs the latest missed scheduled time once, and says when to look again", () => {
    const r = repo({ integrityCheck: { schedule: "0 3 * * *" } });
    const d = checkDue(r, new Set(), now);
    assert.ok(d.due);
    assert.equal(d.trigger, `schedule:${Date.parse("2026-03-01T03:00:00Z") / 1000}`);
    const done = repo({ integrityCheck: { schedule: "0 3 * * *" } }, { status: { lastCheck: { job: "j", time: "t", result: "Passed", reason: "", message: "", scheduledFor: "2026-03-01T03:00:00Z" } } });
    const next = checkDue(done, new Set(), now);
    assert.ok(!next.due && next.nextMs === 23.5 * 3600_000);
    assert.equal(checkDue(repo({}), new Set(), now).due, false, "no schedule, no request: no check");
    const bad = checkDue(repo({ integrityCheck: { schedule: "not cron" } }), new Set(), now);
    assert.ok(!bad.due && bad.problem);
  });

  it("rotates n/t through every part; percentages stay as they are", () => {
    assert.deepEqual([nextSubset("1/3", undefined), nextSubset("1/3", "1/3"), nextSubset("1/3", "2/3"), nextSubset("1/3", "3/3")], ["1/3", "2/3", "3/3", "1/3"]);
    assert.equal(nextSubset("1/4", "2/3"), "1/4", "a new t starts again");
    assert.equal(nextSubset("10%", "10%"), "10%");
    assert.equal(nextSubset(undefined, "1/3"), undefined);
  });
});

import assert from "node:assert/strict";
import {
  type Condition,
  conditionsEqual,
  findCondition,
  isConditionTrue,
  removeCondition,
  setCondition,
  setConditions,
  summarize,
  toApiTime,
} from "./conditions.ts";

type T = "A" | "B" | "C";
const t0 = new Date("2025-01-01T00:00:00.700Z");
const t1 = new Date("2025-01-01T00:05:00Z");

describe("conditions", () => {
  it("formats times as the API server stores them (seconds, Z)", () => {
    assert.equal(toApiTime(t0), "2025-01-01T00:00:00Z");
  });

  it("appends a new condition with the current time", () => {
    const list = setCondition<T>([], { type: "A", status: "True", reason: "Ok", message: "fine" }, t0);
    assert.deepEqual(list, [{ type: "A", status: "True", reason: "Ok", message: "fine", lastTransitionTime: "2025-01-01T00:00:00Z" }]);
  });

  it("keeps lastTransitionTime when only reason or message change", () => {
    const a = setCondition<T>([], { type: "A", status: "False", reason: "X", message: "m1" }, t0);
    const b = setCondition(a, { type: "A", status: "False", reason: "Y", message: "m2" }, t1);
    assert.equal(b[0]?.lastTransitionTime, "2025-01-01T00:00:00Z");
    assert.equal(b[0]?.reason, "Y");
    assert.equal(b[0]?.message, "m2");
  });

  it("moves lastTransitionTime when the status changes", () => {
    const a = setCondition<T>([], { type: "A", status: "False", reason: "X", message: "m" }, t0);
    const b = setCondition(a, { type: "A", status: "True", reason: "Ok", message: "m" }, t1);
    assert.equal(b[0]?.lastTransitionTime, "2025-01-01T00:05:00Z");
  });

  it("replaces in place, keeps order, does not mutate its input", () => {
    const a = setConditions<T>([], [
      { type: "A", status: "True", reason: "Ok", message: "" },
      { type: "B", status: "True", reason: "Ok", message: "" },
    ], t0);
    const frozen = JSON.stringify(a);
    const b = setCondition(a, { type: "A", status: "False", reason: "No", message: "" }, t1);
    assert.deepEqual(b.map((c) => c.type), ["A", "B"]);
    assert.equal(JSON.stringify(a), frozen);
  });

  it("drops undefined optional fields so equality after a round trip through JSON holds", () => {
    const a = setCondition<T>([], { type: "A", status: "True", reason: "Ok", message: "", observedGeneration: undefined }, t0);
    assert.deepEqual(JSON.parse(JSON.stringify(a)), a);
  });

  it("finds, tests and removes", () => {
    const a = setConditions<T>([], [
      { type: "A", status: "True", reason: "Ok", message: "" },
      { type: "B", status: "False", reason: "No", message: "" },
    ], t0);
    assert.equal(findCondition(a, "B")?.reason, "No");
    assert.equal(isConditionTrue(a, "A"), true);
    assert.equal(isConditionTrue(a, "B"), false);
    assert.equal(isConditionTrue(a, "C"), false);
    assert.deepEqual(removeCondition(a, "A").map((c) => c.type), ["B"]);
  });

  describe("conditionsEqual", () => {
    const base: Condition[] = [
      { type: "A", status: "True", reason: "Ok", message: "m", lastTransitionTime: "2025-01-01T00:00:00Z", observedGeneration: 1 },
      { type: "B", status: "False", reason: "No", message: "n", lastTransitionTime: "2025-01-01T00:00:00Z" },
    ];
    it("ignores order", () => assert.equal(conditionsEqual(base, [base[1]!, base[0]!]), true));
    it("sees every field that matters", () => {
      for (const change of [
        { status: "False" }, { reason: "Other" }, { message: "other" }, { observedGeneration: 2 },
        { lastTransitionTime: "2025-01-01T00:00:01Z" },
      ] as const) {
        const other = [{ ...base[0]!, ...change }, base[1]!];
        assert.equal(conditionsEqual(base, other), false, JSON.stringify(change));
      }
    });
    it("sees added and removed conditions", () => {
      assert.equal(conditionsEqual(base, base.slice(0, 1)), false);
      assert.equal(conditionsEqual(undefined, []), true);
    });
  });

  describe("summarize", () => {
    const make = (entries: Array<[T, Condition["status"], string]>) =>
      setConditions<T>([], entries.map(([type, status, reason]) => ({ type, status, reason, message: `${type}:${reason}` })), t0);

    it("is True with the ready reason when every dependency is True", () => {
      const s = summarize(make([["A", "True", "Ok"], ["B", "True", "Ok"]]), { type: "Ready", dependsOn: ["A", "B"], observedGeneration: 3 });
      assert.deepEqual(s, { type: "Ready", status: "True", reason: "Ready", message: "All checks passed", observedGeneration: 3 });
    });

    it("takes reason and message from the first blocker in dependency order", () => {
      const s = summarize(make([["B", "False", "BadB"], ["A", "False", "BadA"]]), { type: "Ready", dependsOn: ["A", "B"] });
      assert.equal(s.status, "False");
      assert.equal(s.reason, "BadA");
      assert.equal(s.message, "A:BadA");
    });

    it("is Unknown when the first blocker is Unknown", () => {
      const s = summarize(make([["A", "Unknown", "Unreachable"]]), { type: "Ready", dependsOn: ["A"] });
      assert.equal(s.status, "Unknown");
      assert.equal(s.reason, "Unreachable");
    });

    it("treats a missing dependency as not yet checked", () => {
      const s = summarize(make([["A", "True", "Ok"]]), { type: "Ready", dependsOn: ["A", "B"] });
      assert.equal(s.status, "Unknown");
      assert.equal(s.reason, "Pending");
    });

    it("lets the caller declare a non-True condition harmless and surface warnings", () => {
      const conds = make([["A", "True", "ExpiringSoon"], ["B", "False", "NotYet"]]);
      const s = summarize(conds, {
        type: "Ready",
        dependsOn: ["A", "B"],
        isBlocking: (c) => c?.status !== "True" && c?.reason !== "NotYet",
        isWarning: (c) => c.reason === "ExpiringSoon" || c.reason === "NotYet",
      });
      assert.equal(s.status, "True");
      assert.equal(s.reason, "ExpiringSoon");
    });
  });
});

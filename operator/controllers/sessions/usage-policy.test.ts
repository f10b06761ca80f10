import assert from "node:assert/strict";
import { selectorProblem, usageRefusal } from "./usage-policy.ts";
import type { Repository } from "../../api/repository.ts";

const repo = (usagePolicy?: NonNullable<Repository["spec"]>["usagePolicy"]): Repository => ({ metadata: { name: "r", namespace: "backups" }, spec: { usagePolicy } });

describe("usageRefusal", () => {
  it("allows the Repository's own namespace always", () => {
    assert.equal(usageRefusal(repo(), "backups", undefined), undefined);
  });
  it("refuses other namespaces by default, naming the field", () => {
    assert.match(usageRefusal(repo(), "app", undefined)?.message ?? "", /allowedNamespaces.from: Same/);
  });
  it("allows every namespace with from: All", () => {
    assert.equal(usageRefusal(repo({ allowedNamespaces: { from: "All" } }), "app", undefined), undefined);
  });
  it("matches labels and expressions with from: Selector", () => {
    const r = repo({ allowedNamespaces: { from: "Selector", selector: { matchLabels: { team: "a" }, matchExpressions: [{ key: "env", operator: "In", values: ["prod"] }] } } });
    assert.equal(usageRefusal(r, "app", { team: "a", env: "prod" }), undefined);
    assert.match(usageRefusal(r, "app", { team: "a", env: "dev" })?.message ?? "", /does not match/);
    assert.match(usageRefusal(r, "app", {})?.message ?? "", /does not match/);
  });
  it("fails closed when the namespace's labels cannot be read: a NotIn or DoesNotExist selector would match nothing-known", () => {
    for (const selector of [{ matchExpressions: [{ key: "tenant", operator: "NotIn", values: ["evil"] }] }, { matchExpressions: [{ key: "quarantined", operator: "DoesNotExist" }] }]) {
      const r = repo({ allowedNamespaces: { from: "Selector", selector } });
      assert.equal(usageRefusal(r, "app", {}), undefined, "an unlabelled namespace that can be read matches");
      const refused = usageRefusal(r, "app", undefined);
      assert.equal(refused?.reason, "NamespaceLabelsUnreadable");
      assert.match(refused?.message ?? "", /cannot read namespace app's labels .* does not guess/);
    }
  });
  it("says an invalid selector is invalid, instead of that the namespace does not match it", () => {
    const bad = [
      [{ matchLabels: { "team name": "a" } }, /matchLabels: key "team name" is no label name/],
      [{ matchLabels: { team: "a b" } }, /value "a b" of key "team" is no label value/],
      [{ matchExpressions: [{ key: "env", operator: "In", values: [] }] }, /operator In needs at least one value/],
      [{ matchExpressions: [{ key: "env", operator: "Exists", values: ["x"] }] }, /operator Exists takes no values/],
      [{ matchLabels: { "Example.com/team": "a" } }, /prefix that is no DNS subdomain/],
    ] as const;
    for (const [selector, message] of bad) {
      const r = usageRefusal(repo({ allowedNamespaces: { from: "Selector", selector: selector as never } }), "app", { team: "a" });
      assert.equal(r?.reason, "UsagePolicyInvalid");
      assert.match(r?.message ?? "", message);
      assert.match(r?.message ?? "", /is invalid/);
    }
    assert.equal(selectorProblem({ matchLabels: { "example.com/team": "a", t: "" }, matchExpressions: [{ key: "e", operator: "DoesNotExist" }] }), undefined);
  });
});

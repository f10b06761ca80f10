import assert from "node:assert/strict";
import { usageRefusal } from "./usage-policy.ts";
import type { Repository } from "../../api/repository.ts";

const repo = (usagePolicy?: NonNullable<Repository["spec"]>["usagePolicy"]): Repository => ({ metadata: { name: "r", namespace: "backups" }, spec: { usagePolicy } });

describe("usageRefusal", () => {
  it("allows the Repository's own namespace always", () => {
    assert.equal(usageRefusal(repo(), "backups", undefined), undefined);
  });
  it("refuses other namespaces by default, naming the field", () => {
    assert.match(usageRefusal(repo(), "app", undefined) ?? "", /allowedNamespaces.from: Same/);
  });
  it("allows every namespace with from: All", () => {
    assert.equal(usageRefusal(repo({ allowedNamespaces: { from: "All" } }), "app", undefined), undefined);
  });
  it("matches labels and expressions with from: Selector", () => {
    const r = repo({ allowedNamespaces: { from: "Selector", selector: { matchLabels: { team: "a" }, matchExpressions: [{ key: "env", operator: "In", values: ["prod"] }] } } });
    assert.equal(usageRefusal(r, "app", { team: "a", env: "prod" }), undefined);
    assert.match(usageRefusal(r, "app", { team: "a", env: "dev" }) ?? "", /does not match/);
    assert.match(usageRefusal(r, "app", {}) ?? "", /does not match/);
  });
});

import assert from "node:assert/strict";
import { labelValue, shortHash } from "./labels.ts";

describe("label values", () => {
  it("keeps valid names and hashes the rest to 63 characters", () => {
    assert.equal(labelValue("nightly-1"), "nightly-1");
    assert.equal(labelValue("a.b_c-d"), "a.b_c-d");
    const long = "x".repeat(100);
    const v = labelValue(long);
    assert.equal(v.length, 63);
    assert.ok(v.endsWith(`-${shortHash(long)}`));
    assert.notEqual(labelValue(`${long}y`), v);
    assert.match(labelValue("-leading"), /^[A-Za-z0-9]/);
    assert.match(labelValue("-"), /^[0-9a-f]{8}$/);
  });
});

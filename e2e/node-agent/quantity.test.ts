import assert from "node:assert/strict";
import { parseQuantity, renderResource } from "./quantity.ts";

describe("node-agent quantities", () => {
  it("parses decimal, binary and exponent forms", () => {
    assert.equal(parseQuantity("250m"), 0.25);
    assert.equal(parseQuantity("2"), 2);
    assert.equal(parseQuantity("64Mi"), 64 * 2 ** 20);
    assert.equal(parseQuantity("1G"), 1e9);
    assert.equal(parseQuantity("1e3"), 1000);
    assert.equal(parseQuantity(".5"), 0.5);
    assert.equal(parseQuantity("12x"), undefined);
    assert.equal(parseQuantity(""), undefined);
    assert.equal(parseQuantity(undefined), undefined);
  });

  it("renders like kubelet: rounded up to whole divisors", () => {
    assert.equal(renderResource("limits.cpu", 0.25, 1), "1");
    assert.equal(renderResource("limits.cpu", 0.25, 0.001), "250");
    assert.equal(renderResource("requests.memory", 64 * 2 ** 20, 2 ** 20), "64");
    assert.equal(renderResource("limits.memory", 1000, 1), "1000");
  });
});

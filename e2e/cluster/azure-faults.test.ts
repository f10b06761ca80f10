import assert from "node:assert/strict";
import { parseFault } from "./azure-faults.ts";

describe("azure-faults: the proxy's fault switch", function () {
  it("takes a 5xx with an optional Retry-After, and {} clears", function () {
    assert.deepEqual(parseFault('{"status":503,"retryAfter":2}'), { status: 503, retryAfter: 2 });
    assert.deepEqual(parseFault('{"status":500}'), { status: 500 });
    assert.equal(parseFault("{}"), undefined);
    assert.equal(parseFault(""), undefined);
  });

  it("refuses what Azure never answers with, and malformed input", function () {
    for (const body of ['{"status":200}', '{"status":"503"}', '{"status":503,"retryAfter":-1}', '{"status":503,"retryAfter":1.5}']) {
      assert.throws(() => parseFault(body), /must be/, body);
    }
    assert.throws(() => parseFault("{"));
  });
});

import assert from "node:assert/strict";
import { redact, redactDeep, registerSecret } from "./redact.ts";

describe("redact", () => {
  it("removes registered values, longest first", () => {
    assert.equal(redact("key=abcdef and abcdefgh", ["abcdef", "abcdefgh"]), "key=[REDACTED] and [REDACTED]");
  });

  it("removes SAS signatures even when not registered", () => {
    const url = "https://a.blob.core.windows.net/c?sv=2025-11-05&se=2026-01-01&sp=rl&sig=AbC%2Fdef%3D";
    const out = redact(url, []);
    assert.ok(!out.includes("AbC"), out);
    assert.ok(out.includes("sig=REDACTED"));
    assert.ok(out.includes("sp=rl"), "keeps the harmless parameters");
  });

  it("removes connection-string keys, shared-key and bearer headers", () => {
    const out = redact("AccountKey=Zm9vYmFy; Authorization: SharedKey acct:c2lnbmF0dXJl Bearer eyJhbGciOi.x.y", []);
    assert.ok(!/Zm9vYmFy|c2lnbmF0dXJl|eyJhbGciOi/.test(out), out);
  });

  it("walks nested objects, arrays and errors", () => {
    const out = redactDeep({ a: ["s3cret-pass"], b: { c: new Error("bad s3cret-pass") }, n: 3 }, ["s3cret-pass"]);
    assert.deepEqual(out, { a: ["[REDACTED]"], b: { c: "Error: bad [REDACTED]" }, n: 3 });
  });
});

describe("redact with registered secrets", () => {
  it("keeps removing longest first as values are registered over time", () => {
    const short = `tok-${Math.random().toString(36).slice(2, 10)}`;
    registerSecret(short);
    assert.equal(redact(`a ${short} b`), "a [REDACTED] b");
    // Registered later, and containing the earlier value: must still be removed whole.
    const long = `${short}-and-more`;
    registerSecret(long);
    assert.equal(redact(`x ${long} y ${short}`), "x [REDACTED] y [REDACTED]");
    assert.deepEqual(redactDeep({ v: [long] }), { v: ["[REDACTED]"] });
  });
});

import assert from "node:assert/strict";
import { MAX_SCOPE_BYTES, redact, redactDeep, registerSecret, secretsFor } from "./redact.ts";

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

describe("redaction scopes", () => {
  it("scrubs a namespace's texts of its own and the global values only; the log of all", () => {
    const tag = Math.random().toString(36).slice(2, 8);
    const a = `ns-a-${tag}`;
    const b = `ns-b-${tag}`;
    registerSecret("Ready", a); // a tenant's password chosen to blank others' statuses
    registerSecret(`pw-of-a-${tag}`, a);
    registerSecret(`global-${tag}`);
    assert.equal(redact(`Ready pw-of-a-${tag}`, secretsFor(a)), "[REDACTED] [REDACTED]");
    assert.equal(redact(`Ready: pw-of-a-${tag} global-${tag}`, secretsFor(b)), `Ready: pw-of-a-${tag} [REDACTED]`, "another namespace's values do not touch b's text");
    assert.equal(redact(`Ready pw-of-a-${tag}`), "[REDACTED] [REDACTED]", "the operator's log is scrubbed of everything");
  });

  it("bounds a namespace's values by a byte budget, newest kept, and keeps one value even beyond it", () => {
    const ns = `ns-budget-${Math.random().toString(36).slice(2, 8)}`;
    const first = `first-${"x".repeat(1000)}`;
    registerSecret(first, ns);
    const n = Math.ceil((2 * MAX_SCOPE_BYTES) / 1000);
    for (let i = 0; i < n; i++) registerSecret(`v${i}-${"y".repeat(1000)}`, ns);
    const kept = secretsFor(ns).filter((v) => v.includes("-y") || v.startsWith("first-"));
    assert.ok(kept.reduce((n, v) => n + v.length, 0) <= MAX_SCOPE_BYTES, "within the budget");
    assert.ok(!kept.includes(first), "the oldest went");
    assert.ok(kept.includes(`v${n - 1}-${"y".repeat(1000)}`), "the newest stays");
    const huge = `huge-${"z".repeat(MAX_SCOPE_BYTES)}`;
    registerSecret(huge, ns);
    assert.equal(redact(`a ${huge} b`, secretsFor(ns)), "a [REDACTED] b", "a value beyond the whole budget is still scrubbed");
  });
});

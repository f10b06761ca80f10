import assert from "node:assert/strict";
import { expand } from "./expansion.ts";

describe("node-agent $(VAR) expansion", () => {
  const vars: Record<string, string> = { A: "alpha", EMPTY: "" };
  const lookup = (n: string) => vars[n];

  it("substitutes defined variables and keeps undefined ones as written", () => {
    assert.equal(expand("$(A)/x", lookup), "alpha/x");
    assert.equal(expand("[$(EMPTY)]", lookup), "[]");
    assert.equal(expand("$(NOPE)-$(A)", lookup), "$(NOPE)-alpha");
  });

  it("treats $$ as an escaped dollar and leaves other dollars alone", () => {
    assert.equal(expand("$$(A)", lookup), "$(A)");
    assert.equal(expand("$HOME $1 a$", lookup), "$HOME $1 a$");
    assert.equal(expand("$(A", lookup), "$(A");
  });
});

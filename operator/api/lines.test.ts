import assert from "node:assert/strict";
import { LineSplitter } from "./lines.ts";

describe("LineSplitter", () => {
  it("joins lines split across chunks, including inside a multi-byte character", () => {
    const bytes = Buffer.from('{"a":"ünï"}\nsecond line\r\nthird', "utf8");
    const s = new LineSplitter();
    const lines: string[] = [];
    for (let i = 0; i < bytes.length; i += 3) lines.push(...s.push(bytes.subarray(i, i + 3)));
    lines.push(...s.end());
    assert.deepEqual(lines, ['{"a":"ünï"}', "second line", "third"]);
  });

  it("returns complete lines only and keeps the rest for the next chunk", () => {
    const s = new LineSplitter();
    assert.deepEqual(s.push('{"a":'), []);
    assert.deepEqual(s.push('1}\n{"b"'), ['{"a":1}']);
    assert.deepEqual(s.push(":2}\n\n"), ['{"b":2}', ""]);
    assert.deepEqual(s.end(), []);
  });

  it("cuts a line longer than the limit and holds no more of it, however it arrives", () => {
    const s = new LineSplitter(10);
    const lines: string[] = [];
    // 1 MB without a newline, in small chunks: memory must not follow it.
    for (let i = 0; i < 1000; i++) lines.push(...s.push("x".repeat(1000)));
    assert.equal(lines.length, 0);
    assert.equal(s.cutLines, 1);
    lines.push(...s.push("yyy\nshort\n0123456789\n"));
    assert.deepEqual(lines, ["xxxxxxxxxx", "short", "0123456789"], "a line of exactly the limit is whole");
    assert.equal(s.cutLines, 1);
    assert.deepEqual(s.push("abcdefghijklmnop"), []);
    assert.deepEqual(s.end(), ["abcdefghij"]);
    assert.equal(s.cutLines, 2);
  });
});

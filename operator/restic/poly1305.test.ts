import assert from "node:assert/strict";
import { poly1305 } from "./poly1305.ts";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");
const IETF_TEXT =
  "Any submission to the IETF intended by the Contributor for publication as all or part of an IETF " +
  "Internet-Draft or RFC and any statement made within the context of an IETF activity is considered an " +
  "\"IETF Contribution\". Such statements include oral statements in IETF sessions, as well as written and " +
  "electronic communications made at any time or place, which are addressed to";
const JABBERWOCKY =
  "'Twas brillig, and the slithy toves\nDid gyre and gimble in the wabe:\nAll mimsy were the borogoves,\nAnd the mome raths outgrabe.";

// RFC 8439 section 2.5.2 and Appendix A.3. #10 and #11 are the cases where the final reduction must and
// must not subtract p; #5 to #9 exercise carries and the wrap at 2^130 - 5.
const vectors: Array<{ name: string; key: string; msg: Buffer; tag: string }> = [
  { name: "2.5.2", key: "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b", msg: Buffer.from("Cryptographic Forum Research Group"), tag: "a8061dc1305136c6c22b8baf0c0127a9" },
  { name: "A.3 #1", key: "00".repeat(32), msg: Buffer.alloc(64), tag: "00".repeat(16) },
  { name: "A.3 #2", key: "00".repeat(16) + "36e5f6b5c5e06070f0efca96227a863e", msg: Buffer.from(IETF_TEXT), tag: "36e5f6b5c5e06070f0efca96227a863e" },
  { name: "A.3 #3", key: "36e5f6b5c5e06070f0efca96227a863e" + "00".repeat(16), msg: Buffer.from(IETF_TEXT), tag: "f3477e7cd95417af89a6b8794c310cf0" },
  { name: "A.3 #4", key: "1c9240a5eb55d38af333888604f6b5f0473917c1402b80099dca5cbc207075c0", msg: Buffer.from(JABBERWOCKY), tag: "4541669a7eaaee61e708dc7cbcc5eb62" },
  { name: "A.3 #5", key: "02" + "00".repeat(31), msg: hex("ff".repeat(16)), tag: "03" + "00".repeat(15) },
  { name: "A.3 #6", key: "02" + "00".repeat(15) + "ff".repeat(16), msg: hex("02" + "00".repeat(15)), tag: "03" + "00".repeat(15) },
  { name: "A.3 #7", key: "01" + "00".repeat(31), msg: hex("ff".repeat(16) + "f0" + "ff".repeat(15) + "11" + "00".repeat(15)), tag: "05" + "00".repeat(15) },
  { name: "A.3 #8", key: "01" + "00".repeat(31), msg: hex("ff".repeat(16) + "fb" + "fe".repeat(15) + "01".repeat(16)), tag: "00".repeat(16) },
  { name: "A.3 #9", key: "02" + "00".repeat(31), msg: hex("fd" + "ff".repeat(15)), tag: "fa" + "ff".repeat(15) },
  {
    name: "A.3 #10",
    key: "0100000000000000" + "0400000000000000" + "00".repeat(16),
    msg: hex("e33594d7505e43b900000000000000003394d7505e4379cd010000000000000000000000000000000000000000000000" + "01000000000000000000000000000000"),
    tag: "14000000000000005500000000000000",
  },
  {
    name: "A.3 #11",
    key: "0100000000000000" + "0400000000000000" + "00".repeat(16),
    msg: hex("e33594d7505e43b900000000000000003394d7505e4379cd010000000000000000000000000000000000000000000000"),
    tag: "13000000000000000000000000000000",
  },
];

describe("poly1305", () => {
  for (const v of vectors) {
    it(`matches RFC 8439 ${v.name}`, () => {
      assert.equal(poly1305(hex(v.key), v.msg).toString("hex"), v.tag);
    });
  }

  it("handles an empty message (tag is s)", () => {
    const key = hex("11".repeat(16) + "22".repeat(16));
    assert.equal(poly1305(key, Buffer.alloc(0)).toString("hex"), "22".repeat(16));
  });

  it("changes the tag when one bit of the message flips", () => {
    const key = hex(vectors[0]!.key);
    const msg = Buffer.from(vectors[0]!.msg);
    msg[5]! ^= 1;
    assert.notEqual(poly1305(key, msg).toString("hex"), vectors[0]!.tag);
  });

  it("refuses a key of the wrong length", () => {
    assert.throws(() => poly1305(Buffer.alloc(16), Buffer.alloc(0)), /32 bytes/);
  });
});

import assert from "node:assert/strict";
import { missingPermissions, msUntilSasStateChange, parseSas, sasValidity } from "./sas.ts";

const SIG = "sig=c2VjcmV0c2lnbmF0dXJl%3D";

describe("parseSas", () => {
  it("refuses oversized, multi-line, repeated-field and garbled tokens with a reason that quotes nothing", () => {
    const cases: Array<[string, RegExp]> = [
      [`sp=r&se=2030-01-01&${SIG}&x=${"a".repeat(1 << 20)}`, /is 10\d{5} characters long, and a SAS token is a few hundred/],
      [`sp=r&se=2030-01-01\n&${SIG}`, /whitespace or control characters/],
      [`sp=r&se=2030-01-01&${SIG}\u0000`, /whitespace or control characters/],
      [`sp=r&se=2030-01-01&se=2099-01-01&${SIG}`, /"se" more than once/],
      [`sp=r&se=2030-99-99&${SIG}`, /expiry \(se\) that is not a date/],
      [`sp=r&se=${"9".repeat(3000)}&${SIG}`, /expiry \(se\) that is not a date/],
      [`sp=r&se=2030-01-01&st=%E0%A4%A&${SIG}`, /start time \(st\) that is not a date/],
      ["%%%%", /lacks/],
      ["&&&&=&=", /lacks/],
    ];
    for (const [value, problem] of cases) {
      const r = parseSas(value);
      assert.ok(!r.ok, value.slice(0, 60));
      assert.match(r.problem, problem);
      assert.doesNotMatch(r.problem, /c2VjcmV0/, "the signature is never quoted");
      assert.ok(r.problem.length < 200);
    }
  });

  it("parses a container SAS and keeps the token as restic wants it (no leading ?)", () => {
    const r = parseSas(`?sv=2025-11-05&spr=https&st=2025-01-01T00:00:00Z&se=2025-02-01T00:00:00Z&sr=c&sp=rl&${SIG}`);
    assert.ok(r.ok);
    assert.equal(r.sas.kind, "service");
    assert.equal(r.sas.resource, "c");
    assert.equal(r.sas.permissions, "rl");
    assert.equal(r.sas.version, "2025-11-05");
    assert.equal(r.sas.expiresOn.toISOString(), "2025-02-01T00:00:00.000Z");
    assert.equal(r.sas.startsOn?.toISOString(), "2025-01-01T00:00:00.000Z");
    assert.ok(r.sas.token.startsWith("sv="));
  });

  it("recognizes account and user delegation SAS", () => {
    const account = parseSas(`sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&${SIG}`);
    assert.ok(account.ok && account.sas.kind === "account" && account.sas.resource === "co");
    const ud = parseSas(`sv=2025-11-05&sr=c&sp=rl&se=2030-01-01&skoid=0000&sktid=1111&${SIG}`);
    assert.ok(ud.ok && ud.sas.kind === "userDelegation");
  });

  it("accepts a bare date and a URL-encoded timestamp", () => {
    const a = parseSas(`sp=r&se=2030-01-01&${SIG}`);
    assert.ok(a.ok && a.sas.expiresOn.toISOString() === "2030-01-01T00:00:00.000Z");
    const b = parseSas(`sp=r&se=2030-01-01T10%3A00%3A00Z&${SIG}`);
    assert.ok(b.ok && b.sas.expiresOn.toISOString() === "2030-01-01T10:00:00.000Z");
  });

  for (const [what, value, pattern] of [
    ["a URL", `https://acct.blob.core.windows.net/c?sp=r&se=2030-01-01&${SIG}`, /URL/],
    ["no signature", "sp=r&se=2030-01-01", /"sig"/],
    ["no expiry", `sp=r&${SIG}`, /"se"/],
    ["an unparseable expiry", `sp=r&se=tomorrow&${SIG}`, /not a date/],
    ["an unparseable start", `sp=r&st=soon&se=2030-01-01&${SIG}`, /start time/],
    ["an account SAS for another service", `ss=q&srt=o&sp=r&se=2030-01-01&${SIG}`, /blob service/],
    ["nothing", "", /empty/],
  ] as const) {
    it(`refuses ${what} without quoting it`, () => {
      const r = parseSas(value);
      assert.ok(!r.ok);
      assert.match(r.problem, pattern);
      assert.ok(!r.problem.includes("c2VjcmV0"), "problem must not contain the signature");
    });
  }
});

describe("sasValidity", () => {
  const sas = { startsOn: new Date("2025-01-01T00:00:00Z"), expiresOn: new Date("2025-01-31T00:00:00Z") };
  const week = 7 * 24 * 3600_000;
  it("is valid well before expiry", () => assert.deepEqual(sasValidity(sas, new Date("2025-01-10T00:00:00Z"), week), { state: "valid" }));
  it("warns inside the window", () => assert.equal(sasValidity(sas, new Date("2025-01-25T00:00:00Z"), week).state, "expiringSoon"));
  it("is expired at and after se", () => {
    assert.equal(sasValidity(sas, new Date("2025-01-31T00:00:00Z"), week).state, "expired");
    assert.equal(sasValidity(sas, new Date("2025-03-01T00:00:00Z"), week).state, "expired");
  });
  it("is not yet valid before st", () => assert.equal(sasValidity(sas, new Date("2024-12-31T00:00:00Z"), week).state, "notYetValid"));
  it("says when the state changes next", () => {
    assert.equal(msUntilSasStateChange(sas, new Date("2025-01-23T00:00:00Z"), week), 24 * 3600_000);
    assert.equal(msUntilSasStateChange(sas, new Date("2025-01-30T00:00:00Z"), week), 24 * 3600_000);
    assert.equal(msUntilSasStateChange(sas, new Date("2025-02-01T00:00:00Z"), week), undefined);
  });
});

describe("missingPermissions", () => {
  it("lists what a SAS lacks", () => {
    assert.equal(missingPermissions("rl", "racwdl"), "acwd");
    assert.equal(missingPermissions("racwdl", "rl"), "");
  });
});

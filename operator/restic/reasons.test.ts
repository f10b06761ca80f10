import assert from "node:assert/strict";
import { fixture } from "./fixtures.ts";
import { parseResticLine } from "./messages.ts";
import { reasonFor, sasOutsideValidity } from "./reasons.ts";

function exitErrorOf(name: string): { code: number; message: string } {
  const lines = fixture(name).split("\n").filter(Boolean).map((l) => parseResticLine(l));
  const e = lines.find((m) => m.type === "exit-error");
  assert.ok(e?.type === "exit-error", `${name} has an exit_error`);
  return e;
}

describe("reasons", () => {
  it("maps restic's exit codes (captured)", () => {
    const cases: Array<[string, string]> = [
      ["wrong-password.stderr", "WrongPassword"],
      ["no-repository.stderr", "NotInitialized"],
      ["locked.stderr", "RepositoryLocked"],
      ["backup-partial.stderr", "PartialBackup"],
      ["network-refused.stderr", "Interrupted"],
      ["restore-missing.stderr", "SnapshotNotFound"],
      ["backup-all-missing.stderr", "PathNotFound"],
      ["backup-empty.stderr", "NothingToBackUp"],
      ["init-exists.stderr", "ResticFailed"],
    ];
    for (const [name, reason] of cases) {
      const e = exitErrorOf(name);
      assert.equal(reasonFor(e.code, e.message), reason, name);
    }
  });

  it("recognises network failures in restic's retry lines", () => {
    const retry = fixture("network-refused.stderr").split("\n")[0]!;
    assert.equal(reasonFor(1, retry), "NetworkError");
    for (const text of [
      'dial tcp: lookup devstoreaccount1.blob.core.windows.net on 10.0.0.10:53: no such host',
      "read tcp 10.0.0.1:4000->10.0.0.2:443: read: connection reset by peer",
      "net/http: TLS handshake timeout",
      "tls: failed to verify certificate: x509: certificate signed by unknown authority",
      "context deadline exceeded (Client.Timeout exceeded while awaiting headers)",
      // Through an HTTPS proxy whose upstream refuses the connection (captured from restic 0.19.1 with the emulator stopped).
      'Save(<data/a0c6a58f22>) returned error, retrying after 786.155701ms: Upload: Put "https://devstoreaccount1.blob.localhost:43797/stash-backup/manual-net%2Fdata%2Fa0%2Fa0c6a58f22": Bad Gateway',
      'Stat(<config/>) returned error, retrying after 1.2s: blob.GetProperties: Head "https://a.blob.core.windows.net/c/p%2Fconfig": Service Unavailable',
    ]) {
      assert.equal(reasonFor(1, text), "NetworkError", text);
    }
  });

  it("recognises Azure's answers (Azure and Azurite error codes)", () => {
    const response = (status: number, code: string, detail = "") =>
      `Fatal: unable to open config file: blob.GetProperties: RESPONSE ${status}: ${status} Forbidden\nERROR CODE: ${code}\n${detail}`;
    assert.equal(reasonFor(1, response(403, "AuthenticationFailed", "Signature did not match")), "AuthenticationFailed");
    assert.equal(reasonFor(1, response(403, "AuthorizationFailure", "Server failed to authenticate the request.")), "AuthenticationFailed");
    assert.equal(reasonFor(1, response(403, "AuthenticationFailed", "Signature not valid in the specified time frame")), "SasExpired");
    assert.equal(reasonFor(1, response(403, "AuthorizationPermissionMismatch")), "PermissionDenied");
    assert.equal(reasonFor(1, response(404, "ContainerNotFound")), "ContainerNotFound");
    // Azurite answers an expired SAS like a bad signature; the token's own expiry tells them apart.
    assert.equal(reasonFor(1, response(403, "AuthorizationFailure", "Server failed to authenticate the request."), { sasExpired: true }), "SasExpired");
  });

  it("falls back to ResticFailed", () => {
    assert.equal(reasonFor(1, "Fatal: something new"), "ResticFailed");
    assert.equal(reasonFor(undefined, ""), "ResticFailed");
    assert.equal(reasonFor(2, "panic: runtime error"), "ResticFailed");
  });

  it("tells when a SAS is outside its validity", () => {
    const now = new Date("2026-06-01T12:00:00Z");
    assert.equal(sasOutsideValidity("sv=2025-11-05&se=2026-06-01T11%3A00%3A00Z&sig=x", now), true);
    assert.equal(sasOutsideValidity("?sv=2025-11-05&se=2026-06-01T13:00:00Z&sig=x", now), false);
    assert.equal(sasOutsideValidity("st=2026-06-01T12:30:00Z&se=2026-06-02T00:00:00Z", now), true);
    assert.equal(sasOutsideValidity("garbage", now), false);
    assert.equal(sasOutsideValidity(undefined, now), false);
  });
});
